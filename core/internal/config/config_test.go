package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr:        ":8080",
		GRPCAddr:        ":9090",
		DataDir:         "/data",
		MaxUploadBytes:  33554432,
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: 10 * time.Second,
		DecodeMemory:    512 << 20,
		DecodeWait:      10 * time.Second,
		UploadTimeout:   2 * time.Minute,
		RPCTimeout:      time.Minute,
		BackendTimeout:  5 * time.Second,
		SweepInterval:   time.Hour,
		SweepGrace:      15 * time.Minute,
	}
	if cfg != want {
		t.Fatalf("defaults = %+v, want %+v", cfg, want)
	}
	if cfg.Backend() != "embedded" {
		t.Fatalf("backend = %s, want embedded", cfg.Backend())
	}
}

func TestLoadOverrides(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"PIXIE_HTTP_ADDR":        "127.0.0.1:18080",
		"PIXIE_GRPC_ADDR":        ":19090",
		"PIXIE_DATA_DIR":         "/tmp/x",
		"PIXIE_MAX_UPLOAD_BYTES": "1024",
		"PIXIE_LOG_LEVEL":        "DEBUG",
		"PIXIE_SHUTDOWN_TIMEOUT": "250ms",
		"PIXIE_GRPC_REFLECTION":  "true",
		"PIXIE_DECODE_MEMORY":    "134217728",
		"PIXIE_DECODE_WAIT":      "3s",
		"PIXIE_UPLOAD_TIMEOUT":   "30s",
		"PIXIE_RPC_TIMEOUT":      "5s",
		"PIXIE_API_TOKEN":        "a-token-of-sixteen+",
		"PIXIE_BACKEND_TIMEOUT":  "2s",
		"PIXIE_SWEEP_INTERVAL":   "10m",
		"PIXIE_SWEEP_GRACE":      "5s",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr:        "127.0.0.1:18080",
		GRPCAddr:        ":19090",
		DataDir:         "/tmp/x",
		MaxUploadBytes:  1024,
		LogLevel:        slog.LevelDebug,
		ShutdownTimeout: 250 * time.Millisecond,
		GRPCReflection:  true,
		DecodeMemory:    128 << 20,
		DecodeWait:      3 * time.Second,
		UploadTimeout:   30 * time.Second,
		RPCTimeout:      5 * time.Second,
		APIToken:        "a-token-of-sixteen+",
		BackendTimeout:  2 * time.Second,
		SweepInterval:   10 * time.Minute,
		SweepGrace:      5 * time.Second,
	}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	if got := cfg.HealthcheckURL(); got != "http://127.0.0.1:18080/healthz" {
		t.Fatalf("HealthcheckURL = %q", got)
	}
}

func TestLoadInvalid(t *testing.T) {
	cases := map[string]string{
		"PIXIE_HTTP_ADDR":        "8080",
		"PIXIE_GRPC_ADDR":        ":99999",
		"PIXIE_MAX_UPLOAD_BYTES": "-1",
		"PIXIE_LOG_LEVEL":        "loud",
		"PIXIE_SHUTDOWN_TIMEOUT": "10",
		"PIXIE_GRPC_REFLECTION":  "maybe",
		"PIXIE_DECODE_MEMORY":    "1000", // below the 64 MiB floor
		"PIXIE_DECODE_WAIT":      "-1s",
		"PIXIE_UPLOAD_TIMEOUT":   "0s",
		"PIXIE_RPC_TIMEOUT":      "soon",
		"PIXIE_API_TOKEN":        "short",
		"PIXIE_API_TOKEN_FILE":   "/nonexistent/token",
		"PIXIE_BACKEND_TIMEOUT":  "0",
		"PIXIE_SWEEP_INTERVAL":   "often",
		"PIXIE_SWEEP_GRACE":      "10s", // not above twice the 5 s backend timeout
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(map[string]string{name: value}))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			if cerr.Var != name {
				t.Fatalf("error names %s, want %s", cerr.Var, name)
			}
			msg := err.Error()
			if !strings.Contains(msg, name) || strings.Contains(msg, "\n") {
				t.Fatalf("message must be one line naming the variable: %q", msg)
			}
		})
	}
}

func TestLoadTokenFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(env(map[string]string{"PIXIE_API_TOKEN_FILE": file}))
	if err != nil || cfg.APIToken != "0123456789abcdef0123" {
		t.Fatalf("token %q, err %v; want the file's first line", cfg.APIToken, err)
	}
}

func TestLoadTokenErrorsNeverShowTheToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := map[string]struct {
		env     map[string]string
		wantVar string
		wantMsg string
	}{
		"both set": {map[string]string{"PIXIE_API_TOKEN": "0123456789abcdef-x", "PIXIE_API_TOKEN_FILE": write("ok", "0123456789abcdef-y")},
			"PIXIE_API_TOKEN_FILE", "not both"},
		"empty file":    {map[string]string{"PIXIE_API_TOKEN_FILE": write("empty", "")}, "PIXIE_API_TOKEN_FILE", "at least 16"},
		"short in file": {map[string]string{"PIXIE_API_TOKEN_FILE": write("short", "secret-7\n")}, "PIXIE_API_TOKEN_FILE", "at least 16"},
		"inner space":   {map[string]string{"PIXIE_API_TOKEN": "secret-7 secret-7 secret-7"}, "PIXIE_API_TOKEN", "without spaces"},
		"unreadable":    {map[string]string{"PIXIE_API_TOKEN_FILE": dir}, "PIXIE_API_TOKEN_FILE", "name a file the process can read"},
		"short env":     {map[string]string{"PIXIE_API_TOKEN": "secret-7"}, "PIXIE_API_TOKEN", "openssl rand -hex 32"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var != tc.wantVar || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want %s error mentioning %q", err, tc.wantVar, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "secret-7") {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

func TestUploadLimitMustFitTheDecodeBudget(t *testing.T) {
	_, err := Load(env(map[string]string{"PIXIE_MAX_UPLOAD_BYTES": "50000000", "PIXIE_DECODE_MEMORY": "67108864"}))
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != "PIXIE_MAX_UPLOAD_BYTES" || !strings.Contains(err.Error(), "at most half of PIXIE_DECODE_MEMORY") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(env(map[string]string{"PIXIE_MAX_UPLOAD_BYTES": "33554432", "PIXIE_DECODE_MEMORY": "67108864"})); err != nil {
		t.Fatalf("exactly half: %v", err)
	}
}
