// Package config reads pixie-core's settings from PIXIE_* environment
// variables. Every variable has a default, so an empty environment is valid.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults, exported so documentation and tests can refer to them.
const (
	DefaultHTTPAddr        = ":8080"
	DefaultGRPCAddr        = ":9090"
	DefaultDataDir         = "/data"
	DefaultMaxUploadBytes  = 32 << 20
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 10 * time.Second
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
	if v := getenv("PIXIE_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, &Error{"PIXIE_SHUTDOWN_TIMEOUT", v, "use a positive Go duration, e.g. 10s or 1m30s"}
		}
		cfg.ShutdownTimeout = d
	}
	if v := getenv("PIXIE_GRPC_REFLECTION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, &Error{"PIXIE_GRPC_REFLECTION", v, "use true or false"}
		}
		cfg.GRPCReflection = b
	}
	return cfg, nil
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
