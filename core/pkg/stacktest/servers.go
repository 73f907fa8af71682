package stacktest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a private server process: Stop, Kill, Pause and Start keep its
// port and data, as a restarted server would.
type Server struct {
	proc  *process
	dir   string
	ready func(context.Context) error
	// stopSignal is its graceful stop.
	stopSignal syscall.Signal
}

// Start starts it again after Stop or Kill and waits until it serves.
func (s *Server) Start() error {
	if err := s.proc.start(); err != nil {
		return err
	}
	return s.proc.waitReady(s.ready)
}

// Stop stops it gracefully.
func (s *Server) Stop() { s.proc.stop(s.stopSignal) }

// Kill kills it at once: SIGKILL (Postgres: an immediate shutdown, the
// same crash recovery on restart without leaving its children behind).
func (s *Server) Kill() {
	if s.proc.asPostgres {
		s.proc.stop(syscall.SIGQUIT)
		return
	}
	s.proc.stop(syscall.SIGKILL)
}

// Pause freezes it and its children (SIGSTOP): connections stay open and
// nothing answers, like a server that hangs. Resume undoes it.
func (s *Server) Pause() error { return s.proc.signalTree(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() error { return s.proc.signalTree(syscall.SIGCONT) }

// Log is what the server wrote, for failure messages.
func (s *Server) Log() string { return s.proc.Log() }

// Close stops the server and removes its data.
func (s *Server) Close() {
	s.Kill()
	_ = os.RemoveAll(s.dir)
}

// Postgres is a private PostgreSQL cluster with a superuser "pixie" and
// trust authentication on loopback.
type Postgres struct {
	Server
	Port int
}

// StartPostgres runs initdb and starts the cluster.
func StartPostgres(bin string) (*Postgres, error) {
	dir, port, err := place("pixie-pg-", true)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := &process{name: "initdb", asPostgres: true,
		argv: []string{filepath.Join(bin, "initdb"), "-D", data, "-U", "pixie", "--auth=trust", "-E", "UTF8", "--no-sync"}}
	if err := initdb.start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if _, err := waitExit(initdb); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	pg := &Postgres{Port: port}
	pg.Server = Server{dir: dir, stopSignal: syscall.SIGINT, proc: &process{
		name: "postgres", asPostgres: true, deathSignal: syscall.SIGQUIT,
		argv: []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"},
	}}
	pg.ready = func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	if err := pg.Start(); err != nil {
		pg.Close()
		return nil, err
	}
	return pg, nil
}

// URL is the URL of database db as the superuser.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://pixie@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// waitExit waits for a one-shot process and reports its failure with its
// log.
func waitExit(p *process) (string, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	<-done
	if _, err := p.running(); err != nil {
		return p.Log(), fmt.Errorf("%s failed: %w\n%s", p.name, err, tail(p.Log()))
	}
	return p.Log(), nil
}

// NATS is a private nats-server with JetStream.
type NATS struct {
	Server
	Port int
}

// StartNATS starts nats-server with JetStream storing under a temporary
// folder.
func StartNATS(bin string) (*NATS, error) {
	dir, port, err := place("pixie-nats-", false)
	if err != nil {
		return nil, err
	}
	n := &NATS{Port: port}
	n.Server = Server{dir: dir, stopSignal: syscall.SIGTERM, proc: &process{
		name: "nats-server", deathSignal: syscall.SIGKILL,
		argv: []string{bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir, "--server_name", "pixie-test"},
	}}
	n.ready = func(ctx context.Context) error {
		return withJetStream(n.URL(), func(js jetstream.JetStream) error {
			_, err := js.AccountInfo(ctx)
			return err
		})
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// URL is the server's client URL.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// S3 is a private versitygw with a POSIX backend.
type S3 struct {
	Server
	Port                 int
	AccessKey, SecretKey string
}

// StartS3 starts versitygw serving buckets from a temporary folder.
func StartS3(bin string) (*S3, error) {
	dir, port, err := place("pixie-s3-", false)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "iam"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	s := &S3{Port: port, AccessKey: "pixie-test-access", SecretKey: "pixie-test-secret-" + strconv.Itoa(port)}
	s.Server = Server{dir: dir, stopSignal: syscall.SIGTERM, proc: &process{
		name: "versitygw", deathSignal: syscall.SIGKILL,
		env: []string{"ROOT_ACCESS_KEY=" + s.AccessKey, "ROOT_SECRET_KEY=" + s.SecretKey},
		argv: []string{bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--health", "/health", "--keep-alive", "--quiet",
			"--iam-dir", filepath.Join(dir, "iam"), "posix", filepath.Join(dir, "data")},
	}}
	s.ready = func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint()+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Endpoint is the server's URL.
func (s *S3) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Port) }

// checkBinary names a missing binary with the fix.
func checkBinary(path, what string) error {
	if _, err := exec.LookPath(path); err != nil {
		return errors.New(what + " " + path + " is not there; run `sudo bash .ci/provision-stack`")
	}
	return nil
}

// withJetStream connects to url for the length of fn.
func withJetStream(url string, fn func(jetstream.JetStream) error) error {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return fn(js)
}
