package config

import (
	"errors"
	"log/slog"
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
	}
	if cfg != want {
		t.Fatalf("defaults = %+v, want %+v", cfg, want)
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
