// Package config reads pixie-core's settings from PIXIE_* environment
// variables. Every variable has a default, so an empty environment is valid.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults, exported so documentation and tests can refer to them.
const (
	DefaultHTTPAddr        = ":8080"
	DefaultGRPCAddr        = ":9090"
	DefaultDataDir         = "/data"
	DefaultMaxUploadBytes  = 32 << 20
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultDecodeMemory    = 512 << 20
	DefaultDecodeWait      = 10 * time.Second
	DefaultUploadTimeout   = 2 * time.Minute
	DefaultRPCTimeout      = time.Minute
	DefaultBackendTimeout  = 5 * time.Second
	DefaultSweepInterval   = time.Hour
	DefaultSweepGrace      = 15 * time.Minute

	// MinDecodeMemory keeps the budget above what a phone photo needs.
	MinDecodeMemory = 64 << 20
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
	Stack *Stack
}

// Error names the offending variable and how to fix it, so the process can
// print it as its single line of stderr before exiting 2.
type Error struct {
	Var, Value, Fix string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Var, e.Value, e.Fix)
}

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
		DecodeMemory:    DefaultDecodeMemory,
		DecodeWait:      DefaultDecodeWait,
		UploadTimeout:   DefaultUploadTimeout,
		RPCTimeout:      DefaultRPCTimeout,
		BackendTimeout:  DefaultBackendTimeout,
		SweepInterval:   DefaultSweepInterval,
		SweepGrace:      DefaultSweepGrace,
	}

	if v := getenv("PIXIE_HTTP_ADDR"); v != "" {
		if err := checkAddr(v); err != nil {
			return cfg, &Error{"PIXIE_HTTP_ADDR", v, "use host:port or :port with a port in 0..65535, e.g. :8080"}
		}
		cfg.HTTPAddr = v
	}
	if v := getenv("PIXIE_GRPC_ADDR"); v != "" {
		if err := checkAddr(v); err != nil {
			return cfg, &Error{"PIXIE_GRPC_ADDR", v, "use host:port or :port with a port in 0..65535, e.g. :9090"}
		}
		cfg.GRPCAddr = v
	}
	if v := getenv("PIXIE_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := getenv("PIXIE_MAX_UPLOAD_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return cfg, &Error{"PIXIE_MAX_UPLOAD_BYTES", v, "use a positive whole number of bytes, e.g. 33554432 for 32 MiB"}
		}
		cfg.MaxUploadBytes = n
	}
	if v := getenv("PIXIE_LOG_LEVEL"); v != "" {
		lvl, ok := parseLevel(v)
		if !ok {
			return cfg, &Error{"PIXIE_LOG_LEVEL", v, "use one of debug, info, warn, error"}
		}
		cfg.LogLevel = lvl
	}
	durations := []struct {
		name, example string
		dst           *time.Duration
	}{
		{"PIXIE_SHUTDOWN_TIMEOUT", "10s or 1m30s", &cfg.ShutdownTimeout},
		{"PIXIE_DECODE_WAIT", "10s", &cfg.DecodeWait},
		{"PIXIE_UPLOAD_TIMEOUT", "2m", &cfg.UploadTimeout},
		{"PIXIE_RPC_TIMEOUT", "1m", &cfg.RPCTimeout},
		{"PIXIE_BACKEND_TIMEOUT", "5s", &cfg.BackendTimeout},
		{"PIXIE_SWEEP_INTERVAL", "1h", &cfg.SweepInterval},
		{"PIXIE_SWEEP_GRACE", "15m", &cfg.SweepGrace},
	}
	for _, d := range durations {
		if v := getenv(d.name); v != "" {
			n, err := time.ParseDuration(v)
			if err != nil || n <= 0 {
				return cfg, &Error{d.name, v, "use a positive Go duration, e.g. " + d.example}
			}
			*d.dst = n
		}
	}
	if v := getenv("PIXIE_DECODE_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < MinDecodeMemory {
			return cfg, &Error{"PIXIE_DECODE_MEMORY", v, fmt.Sprintf("use a whole number of bytes of at least %d (64 MiB), e.g. 536870912 for 512 MiB", MinDecodeMemory)}
		}
		cfg.DecodeMemory = n
	}
	// An upload's buffer is reserved from the decode budget, briefly twice
	// over while it grows.
	if 2*cfg.MaxUploadBytes > cfg.DecodeMemory {
		return cfg, &Error{"PIXIE_MAX_UPLOAD_BYTES", strconv.FormatInt(cfg.MaxUploadBytes, 10),
			fmt.Sprintf("must be at most half of PIXIE_DECODE_MEMORY (%d); lower it or raise PIXIE_DECODE_MEMORY", cfg.DecodeMemory)}
	}
	// An upload's object may land up to two backend timeouts before its
	// metadata commits; the sweeper must not take it for an orphan.
	if cfg.SweepGrace <= 2*cfg.BackendTimeout {
		return cfg, &Error{"PIXIE_SWEEP_GRACE", cfg.SweepGrace.String(),
			fmt.Sprintf("must be more than twice PIXIE_BACKEND_TIMEOUT (%v); raise it or lower PIXIE_BACKEND_TIMEOUT", cfg.BackendTimeout)}
	}
	token, err := loadToken(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.APIToken = token
	if v := getenv("PIXIE_GRPC_REFLECTION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, &Error{"PIXIE_GRPC_REFLECTION", v, "use true or false"}
		}
		cfg.GRPCReflection = b
	}
	cfg.Stack, err = loadStack(getenv)
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
		return "", &Error{"PIXIE_API_TOKEN_FILE", file, "set either PIXIE_API_TOKEN or PIXIE_API_TOKEN_FILE, not both"}
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", &Error{"PIXIE_API_TOKEN_FILE", file, "name a file the process can read: " + err.Error()}
		}
		token, name = strings.TrimRight(string(data), "\r\n"), "PIXIE_API_TOKEN_FILE"
	case token == "":
		return "", nil
	}
	if len(token) < MinAPITokenLen || strings.ContainsFunc(token, unicode.IsSpace) || !utf8.ValidString(token) {
		return "", &Error{name, "(hidden)", fmt.Sprintf("use a token of at least %d characters without spaces, e.g. from: openssl rand -hex 32", MinAPITokenLen)}
	}
	return token, nil
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// HealthcheckURL is the URL the healthcheck subcommand probes: always
// loopback, on the port the HTTP server listens on.
func (c Config) HealthcheckURL() string {
	_, port, _ := net.SplitHostPort(c.HTTPAddr) // validated by Load
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
}
