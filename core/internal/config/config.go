// Package config reads pixie-core's settings from PIXIE_* environment
// variables. Every variable has a default, so an empty environment is valid.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pixie-photos/pixie/core/pkg/settings"
)

// Defaults, exported so documentation and tests can refer to them.
const (
	DefaultHTTPAddr        = ":8080"
	DefaultGRPCAddr        = ":9090"
	DefaultDataDir         = "/data"
	DefaultMaxUploadBytes  = 32 << 20
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultUploadTimeout   = 2 * time.Minute
	DefaultRPCTimeout      = time.Minute
	DefaultBackendTimeout  = 5 * time.Second
	DefaultSweepInterval   = time.Hour
	DefaultSweepGrace      = 15 * time.Minute

	// MinAPITokenLen keeps tokens out of reach of guessing.
	MinAPITokenLen = 16
)

// Config is the complete runtime configuration.
type Config struct {
	HTTPAddr        string
	GRPCAddr        string
	DataDir         string
	MaxUploadBytes  int64
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	GRPCReflection  bool
	// DecodeMemory is the process-wide budget for decoding images.
	DecodeMemory int64
	// DecodeWait bounds how long a decode queues for budget.
	DecodeWait time.Duration
	// UploadTimeout bounds reading one upload's body or stream.
	UploadTimeout time.Duration
	// RPCTimeout bounds each other gRPC call.
	RPCTimeout time.Duration
	// APIToken, when set, is required as a bearer token for writes.
	APIToken string
	// BackendTimeout bounds each storage operation (Postgres, S3) before
	// the request gets 503.
	BackendTimeout time.Duration
	// SweepInterval is how often unreferenced objects are looked for;
	// SweepGrace spares those younger (uploads in flight).
	SweepInterval, SweepGrace time.Duration
	// Stack, when set, selects the stack backend (Postgres, S3, NATS);
	// nil is the embedded one.
	Stack *settings.Stack
}

// Error names the offending variable and how to fix it.
type Error = settings.Error

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests). An unset or empty variable means its default.
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{
		HTTPAddr:        DefaultHTTPAddr,
		GRPCAddr:        DefaultGRPCAddr,
		DataDir:         DefaultDataDir,
		MaxUploadBytes:  DefaultMaxUploadBytes,
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: DefaultShutdownTimeout,
		UploadTimeout:   DefaultUploadTimeout,
		RPCTimeout:      DefaultRPCTimeout,
		BackendTimeout:  DefaultBackendTimeout,
		SweepInterval:   DefaultSweepInterval,
		SweepGrace:      DefaultSweepGrace,
	}

	if err := settings.LoadAddr(getenv, "PIXIE_HTTP_ADDR", ":8080", &cfg.HTTPAddr); err != nil {
		return cfg, err
	}
	if err := settings.LoadAddr(getenv, "PIXIE_GRPC_ADDR", ":9090", &cfg.GRPCAddr); err != nil {
		return cfg, err
	}
	if v := getenv("PIXIE_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := getenv("PIXIE_MAX_UPLOAD_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return cfg, &Error{Var: "PIXIE_MAX_UPLOAD_BYTES", Value: v, Fix: "use a positive whole number of bytes, e.g. 33554432 for 32 MiB"}
		}
		cfg.MaxUploadBytes = n
	}
	var err error
	if cfg.LogLevel, err = settings.LoadLogLevel(getenv); err != nil {
		return cfg, err
	}
	err = settings.LoadDurations(getenv,
		settings.Duration{Name: "PIXIE_SHUTDOWN_TIMEOUT", Example: "10s or 1m30s", Dst: &cfg.ShutdownTimeout},
		settings.Duration{Name: "PIXIE_UPLOAD_TIMEOUT", Example: "2m", Dst: &cfg.UploadTimeout},
		settings.Duration{Name: "PIXIE_RPC_TIMEOUT", Example: "1m", Dst: &cfg.RPCTimeout},
		settings.Duration{Name: "PIXIE_BACKEND_TIMEOUT", Example: "5s", Dst: &cfg.BackendTimeout},
		settings.Duration{Name: "PIXIE_SWEEP_INTERVAL", Example: "1h", Dst: &cfg.SweepInterval},
		settings.Duration{Name: "PIXIE_SWEEP_GRACE", Example: "15m", Dst: &cfg.SweepGrace})
	if err != nil {
		return cfg, err
	}
	decode, err := settings.LoadDecode(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.DecodeMemory, cfg.DecodeWait = decode.Memory, decode.Wait
	// An upload's buffer is reserved from the decode budget, briefly twice
	// over while it grows.
	if 2*cfg.MaxUploadBytes > cfg.DecodeMemory {
		return cfg, &Error{Var: "PIXIE_MAX_UPLOAD_BYTES", Value: strconv.FormatInt(cfg.MaxUploadBytes, 10), Fix: fmt.Sprintf("must be at most half of PIXIE_DECODE_MEMORY (%d); lower it or raise PIXIE_DECODE_MEMORY", cfg.DecodeMemory)}
	}
	// An upload's object may land up to two backend timeouts before its
	// metadata commits; the sweeper must not take it for an orphan.
	if cfg.SweepGrace <= 2*cfg.BackendTimeout {
		return cfg, &Error{Var: "PIXIE_SWEEP_GRACE", Value: cfg.SweepGrace.String(), Fix: fmt.Sprintf("must be more than twice PIXIE_BACKEND_TIMEOUT (%v); raise it or lower PIXIE_BACKEND_TIMEOUT", cfg.BackendTimeout)}
	}
	token, err := loadToken(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.APIToken = token
	if v := getenv("PIXIE_GRPC_REFLECTION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, &Error{Var: "PIXIE_GRPC_REFLECTION", Value: v, Fix: "use true or false"}
		}
		cfg.GRPCReflection = b
	}
	cfg.Stack, err = settings.LoadStack(getenv)
	return cfg, err
}

// Backend names the storage backend: "embedded" or "stack".
func (c Config) Backend() string {
	if c.Stack != nil {
		return "stack"
	}
	return "embedded"
}

// loadToken reads PIXIE_API_TOKEN or the file named by PIXIE_API_TOKEN_FILE
// (a compose secret); a trailing newline in the file is ignored. Errors
// never repeat the token.
func loadToken(getenv func(string) string) (string, error) {
	token, file := getenv("PIXIE_API_TOKEN"), getenv("PIXIE_API_TOKEN_FILE")
	name := "PIXIE_API_TOKEN"
	switch {
	case token != "" && file != "":
		return "", &Error{Var: "PIXIE_API_TOKEN_FILE", Value: file, Fix: "set either PIXIE_API_TOKEN or PIXIE_API_TOKEN_FILE, not both"}
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", &Error{Var: "PIXIE_API_TOKEN_FILE", Value: file, Fix: "name a file the process can read: " + err.Error()}
		}
		token, name = strings.TrimRight(string(data), "\r\n"), "PIXIE_API_TOKEN_FILE"
	case token == "":
		return "", nil
	}
	if len(token) < MinAPITokenLen || strings.ContainsFunc(token, unicode.IsSpace) || !utf8.ValidString(token) {
		return "", &Error{Var: name, Value: "(hidden)", Fix: fmt.Sprintf("use a token of at least %d characters without spaces, e.g. from: openssl rand -hex 32", MinAPITokenLen)}
	}
	return token, nil
}

// HealthcheckURL is the URL the healthcheck subcommand probes: always
// loopback, on the port the HTTP server listens on.
func (c Config) HealthcheckURL() string { return settings.HealthcheckURL(c.HTTPAddr, "/healthz") }
