package settings

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// stackEnv is a complete stack configuration with its secrets in files.
func stackEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, value string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return map[string]string{
		"PIXIE_DATABASE_URL_FILE":  write("db", "postgres://pixie:s3cret-pw@db:5432/pixie"),
		"PIXIE_S3_ENDPOINT":        "http://s3:7070",
		"PIXIE_S3_ACCESS_KEY_FILE": write("access", "AKIAPIXIE"),
		"PIXIE_S3_SECRET_KEY_FILE": write("secret", "very-secret-key"),
		"PIXIE_NATS_URL":           "nats://nats:4222",
	}
}

func TestStackFromFiles(t *testing.T) {
	st, err := LoadStack(env(stackEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	want := Stack{
		DatabaseURL: "postgres://pixie:s3cret-pw@db:5432/pixie",
		S3Endpoint:  "http://s3:7070", S3Bucket: "pixie", S3Region: "us-east-1",
		S3AccessKey: "AKIAPIXIE", S3SecretKey: "very-secret-key",
		NATSURL: "nats://nats:4222", NATSPrefix: "pixie",
	}
	if st == nil || st.DatabaseURL != want.DatabaseURL || st.S3AccessKey != want.S3AccessKey || st.S3SecretKey != want.S3SecretKey ||
		st.S3Bucket != want.S3Bucket || st.S3Region != want.S3Region || st.NATSPrefix != want.NATSPrefix {
		t.Fatalf("stack = %+v, want %+v", st, want)
	}
	if len(st.Warnings) != 0 {
		t.Fatalf("secrets from files warned: %v", st.Warnings)
	}
	if st, err := LoadStack(env(nil)); st != nil || err != nil {
		t.Fatalf("nothing set: %+v, %v; want nil (the embedded backend)", st, err)
	}
}

func TestStackSecretsAsPlainValuesWarn(t *testing.T) {
	e := stackEnv(t)
	delete(e, "PIXIE_DATABASE_URL_FILE")
	delete(e, "PIXIE_S3_SECRET_KEY_FILE")
	e["PIXIE_DATABASE_URL"] = "postgres://pixie:pw@db/pixie"
	e["PIXIE_S3_SECRET_KEY"] = "very-secret-key"
	st, err := LoadStack(env(e))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(st.Warnings, "\n")
	if !strings.Contains(got, "PIXIE_S3_SECRET_KEY holds a secret in the environment; prefer PIXIE_S3_SECRET_KEY_FILE") ||
		!strings.Contains(got, "PIXIE_DATABASE_URL holds a password in the environment; prefer PIXIE_DATABASE_URL_FILE") ||
		strings.Contains(got, "very-secret-key") || strings.Contains(got, ":pw@") {
		t.Fatalf("warnings = %q", got)
	}
	// A URL without a password (trust, or a password file of libpq's) is no secret.
	e["PIXIE_DATABASE_URL"] = "postgres://pixie@db/pixie"
	if st, err = LoadStack(env(e)); err != nil || len(st.Warnings) != 1 {
		t.Fatalf("warnings = %q, err %v", st.Warnings, err)
	}
}

func TestPartialStackNamesWhatIsMissing(t *testing.T) {
	e := stackEnv(t)
	delete(e, "PIXIE_NATS_URL")
	delete(e, "PIXIE_S3_SECRET_KEY_FILE")
	_, err := LoadStack(env(e))
	var inc *IncompleteStackError
	if !errors.As(err, &inc) {
		t.Fatalf("err = %v, want an IncompleteStackError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "PIXIE_S3_SECRET_KEY_FILE, PIXIE_NATS_URL are missing") ||
		!strings.Contains(msg, "PIXIE_DATABASE_URL_FILE, PIXIE_S3_ENDPOINT, PIXIE_S3_ACCESS_KEY_FILE are set") ||
		strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
		t.Fatalf("message = %q", msg)
	}
	_, err = LoadStack(env(map[string]string{"PIXIE_NATS_URL": "nats://n:4222"}))
	if err == nil || !strings.Contains(err.Error(), "PIXIE_NATS_URL is set but PIXIE_DATABASE_URL_FILE, PIXIE_S3_ENDPOINT, PIXIE_S3_ACCESS_KEY_FILE, PIXIE_S3_SECRET_KEY_FILE are missing") {
		t.Fatalf("one variable: %v", err)
	}
}

func TestStackInvalidValuesNameTheVariableNotTheSecret(t *testing.T) {
	cases := map[string]map[string]string{
		"PIXIE_S3_ENDPOINT":        {"PIXIE_S3_ENDPOINT": "s3:7070"},
		"PIXIE_NATS_URL":           {"PIXIE_NATS_URL": "http://user:pw@nats:4222"},
		"PIXIE_NATS_PREFIX":        {"PIXIE_NATS_PREFIX": "Pixie.Photos"},
		"PIXIE_NATS_CREDS_FILE":    {"PIXIE_NATS_CREDS_FILE": "/nonexistent/user.creds"},
		"PIXIE_S3_BUCKET":          {"PIXIE_S3_BUCKET": "a/b"},
		"PIXIE_S3_SECRET_KEY_FILE": {"PIXIE_S3_SECRET_KEY_FILE": "/nonexistent/secret"},
	}
	for name, override := range cases {
		t.Run(name, func(t *testing.T) {
			e := stackEnv(t)
			delete(e, "PIXIE_S3_SECRET_KEY_FILE")
			e["PIXIE_S3_SECRET_KEY"] = "very-secret-key"
			for k, v := range override {
				e[k] = v
			}
			if name == "PIXIE_S3_SECRET_KEY_FILE" {
				delete(e, "PIXIE_S3_SECRET_KEY")
			}
			_, err := LoadStack(env(e))
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var != name {
				t.Fatalf("err = %v, want one naming %s", err, name)
			}
			if msg := err.Error(); strings.Contains(msg, "very-secret-key") || strings.Contains(msg, ":pw@") || strings.Contains(msg, "\n") {
				t.Fatalf("message = %q", msg)
			}
		})
	}
	both := stackEnv(t)
	both["PIXIE_S3_SECRET_KEY"] = "very-secret-key"
	if _, err := LoadStack(env(both)); err == nil || !strings.Contains(err.Error(), "set either PIXIE_S3_SECRET_KEY or PIXIE_S3_SECRET_KEY_FILE, not both") {
		t.Fatalf("both set: %v", err)
	}
}

func TestLoadDatabaseURL(t *testing.T) {
	e := stackEnv(t)
	got, warnings, err := LoadDatabaseURL(env(e))
	if err != nil || got != "postgres://pixie:s3cret-pw@db:5432/pixie" || len(warnings) != 0 {
		t.Fatalf("LoadDatabaseURL = %q %v %v", got, warnings, err)
	}
	if _, _, err := LoadDatabaseURL(env(nil)); err == nil || !strings.Contains(err.Error(), "PIXIE_DATABASE_URL") {
		t.Fatalf("unset: %v", err)
	}
}
