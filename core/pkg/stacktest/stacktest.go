package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	"github.com/pixie-photos/pixie/core/pkg/settings"
)

// Servers are the addresses of a Postgres, an S3 and a NATS server.
type Servers struct {
	// AdminURL reaches the database server as a user who may create
	// databases.
	AdminURL    string
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	NATSURL     string
}

// Binaries are the servers' programs.
type Binaries struct {
	PostgresBin string // folder of initdb and postgres
	NATSServer  string
	Versitygw   string
}

var (
	shared   Servers
	binaries Binaries
)

// Main runs a package's stack tests: with the servers of the environment,
// or with private ones it starts and stops. When the binaries are missing
// it prints one line saying what it left out and how to run it, and
// returns 0 without running the tests, or 1 when PIXIE_TEST_STACK_REQUIRED=1.
func Main(m *testing.M) int {
	var missing []string
	binaries, missing = binariesFromEnv()
	if len(missing) > 0 {
		msg := "the stack suite (Postgres, S3 and NATS tests) did not run: " + strings.Join(missing, "; ") +
			". Run `cargo xtask test`, or `export $(sudo bash .ci/provision-stack)` and go test again"
		if os.Getenv("PIXIE_TEST_STACK_REQUIRED") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL: "+msg+" (PIXIE_TEST_STACK_REQUIRED=1)")
			return 1
		}
		fmt.Fprintln(os.Stderr, msg)
		return 0
	}
	srv, err := serversFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: "+err.Error())
		return 1
	}
	if srv == nil {
		p, err := startPrivate()
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: cannot start the stack's servers: "+err.Error())
			return 1
		}
		defer p.close()
		srv = &p.Servers
	}
	shared = *srv
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

func binariesFromEnv() (Binaries, []string) {
	get := func(name string) string {
		if v := os.Getenv("PIXIE_TEST_" + name); v != "" {
			return v
		}
		return os.Getenv("PIXIE_CI_" + name)
	}
	b := Binaries{PostgresBin: get("POSTGRES_BIN"), NATSServer: get("NATS_SERVER"), Versitygw: get("VERSITYGW")}
	var missing []string
	for _, c := range []struct{ name, path, file string }{
		{"PIXIE_TEST_POSTGRES_BIN", b.PostgresBin, filepath.Join(b.PostgresBin, "postgres")},
		{"PIXIE_TEST_NATS_SERVER", b.NATSServer, b.NATSServer},
		{"PIXIE_TEST_VERSITYGW", b.Versitygw, b.Versitygw},
	} {
		switch {
		case c.path == "":
			missing = append(missing, c.name+" is unset")
		case checkBinary(c.file, c.name) != nil:
			missing = append(missing, c.name+"="+c.path+" has no "+filepath.Base(c.file))
		}
	}
	return b, missing
}

var serverVars = []string{"PIXIE_TEST_DATABASE_URL", "PIXIE_TEST_S3_ENDPOINT", "PIXIE_TEST_S3_ACCESS_KEY", "PIXIE_TEST_S3_SECRET_KEY", "PIXIE_TEST_NATS_URL"}

// serversFromEnv returns nil when none of the address variables is set.
func serversFromEnv() (*Servers, error) {
	var set, unset []string
	for _, v := range serverVars {
		if os.Getenv(v) != "" {
			set = append(set, v)
		} else {
			unset = append(unset, v)
		}
	}
	switch {
	case len(set) == 0:
		return nil, nil
	case len(unset) > 0:
		return nil, fmt.Errorf("%s set but %s not: set all of them or none (then the tests start their own servers)",
			strings.Join(set, ", "), strings.Join(unset, ", "))
	}
	return &Servers{
		AdminURL:    os.Getenv("PIXIE_TEST_DATABASE_URL"),
		S3Endpoint:  os.Getenv("PIXIE_TEST_S3_ENDPOINT"),
		S3AccessKey: os.Getenv("PIXIE_TEST_S3_ACCESS_KEY"),
		S3SecretKey: os.Getenv("PIXIE_TEST_S3_SECRET_KEY"),
		NATSURL:     os.Getenv("PIXIE_TEST_NATS_URL"),
	}, nil
}

// Private is a set of servers of one test's own, for fault tests: its
// servers can be stopped, killed, paused and restarted.
type Private struct {
	Servers
	Postgres *Postgres
	S3       *S3
	NATS     *NATS
}

func startPrivate() (*Private, error) {
	p := &Private{}
	var err error
	if p.Postgres, err = StartPostgres(binaries.PostgresBin); err != nil {
		return nil, err
	}
	if p.S3, err = StartS3(binaries.Versitygw); err != nil {
		p.close()
		return nil, err
	}
	if p.NATS, err = StartNATS(binaries.NATSServer); err != nil {
		p.close()
		return nil, err
	}
	p.Servers = Servers{AdminURL: p.Postgres.URL("postgres"), S3Endpoint: p.S3.Endpoint(),
		S3AccessKey: p.S3.AccessKey, S3SecretKey: p.S3.SecretKey, NATSURL: p.NATS.URL()}
	return p, nil
}

func (p *Private) close() {
	if p.NATS != nil {
		p.NATS.Close()
	}
	if p.S3 != nil {
		p.S3.Close()
	}
	if p.Postgres != nil {
		p.Postgres.Close()
	}
}

// StartPrivate starts servers for t alone; its cleanup removes them.
func StartPrivate(t testing.TB) *Private {
	t.Helper()
	p, err := startPrivate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// Shared returns the package's servers (from the environment or started
// by Main).
func Shared() Servers { return shared }

// Stack is one test's share of servers: its own database, bucket and NATS
// subject prefix.
type Stack struct {
	Servers
	DatabaseURL string
	Bucket      string
	Prefix      string
}

// Fresh creates a database on srv and picks a bucket name and a subject
// prefix nobody else uses; its cleanup drops them.
func Fresh(t testing.TB, srv Servers) Stack {
	t.Helper()
	suffix := randomSuffix()
	st := Stack{Servers: srv, Bucket: "pixie-" + suffix, Prefix: "t" + suffix}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, srv.AdminURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", srv.AdminURL, err)
	}
	defer admin.Close(ctx)
	db := "pixie_" + suffix
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create database: %v", err)
	}
	cfg, err := pgx.ParseConfig(srv.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	st.DatabaseURL = strings.Replace(srv.AdminURL, "/"+cfg.Database, "/"+db, 1)
	t.Cleanup(func() { st.drop(t, db) })
	return st
}

// drop removes what the test left: its database, bucket and streams, each
// with a time bound of its own.
func (s Stack) drop(t testing.TB, db string) {
	step := func(what string, fn func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := fn(ctx); err != nil {
			t.Logf("cleanup: %s: %v", what, err)
		}
	}
	step("drop database "+db, func(ctx context.Context) error {
		admin, err := pgx.Connect(ctx, s.AdminURL)
		if err != nil {
			return err
		}
		defer admin.Close(ctx)
		_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		return err
	})
	step("delete bucket "+s.Bucket, func(ctx context.Context) error { return DeleteBucket(ctx, s.S3Client(), s.Bucket) })
	step("delete streams", func(ctx context.Context) error {
		return withJetStream(s.NATSURL, func(js jetstream.JetStream) error {
			for _, name := range []string{natsrelay.StreamName(s.Prefix), natsrelay.DeadLetterStreamName(s.Prefix)} {
				if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
					return err
				}
			}
			return nil
		})
	})
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// S3Config is how pixie-core reaches the test's bucket.
func (s Stack) S3Config() s3blob.Config {
	return s3blob.Config{Endpoint: s.S3Endpoint, Bucket: s.Bucket, AccessKey: s.S3AccessKey, SecretKey: s.S3SecretKey}
}

// Config is the stack's settings for an in-process pixie-core.
func (s Stack) Config() *settings.Stack {
	return &settings.Stack{DatabaseURL: s.DatabaseURL, S3Endpoint: s.S3Endpoint, S3Bucket: s.Bucket, S3Region: settings.DefaultS3Region,
		S3AccessKey: s.S3AccessKey, S3SecretKey: s.S3SecretKey, NATSURL: s.NATSURL, NATSPrefix: s.Prefix}
}

// Env is the stack's settings for a pixie-core process, its secrets in
// files under a temporary folder of t.
func (s Stack) Env(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	file := func(name, value string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return []string{
		"PIXIE_DATABASE_URL_FILE=" + file("database-url", s.DatabaseURL),
		"PIXIE_S3_ENDPOINT=" + s.S3Endpoint,
		"PIXIE_S3_BUCKET=" + s.Bucket,
		"PIXIE_S3_ACCESS_KEY_FILE=" + file("s3-access-key", s.S3AccessKey),
		"PIXIE_S3_SECRET_KEY_FILE=" + file("s3-secret-key", s.S3SecretKey),
		"PIXIE_NATS_URL=" + s.NATSURL,
		"PIXIE_NATS_PREFIX=" + s.Prefix,
	}
}
