// Command pixie-core is the self-hosted photo manager's server.
//
// Usage:
//
//	pixie-core [serve]     run the HTTP and gRPC servers (default)
//	pixie-core migrate     apply the Postgres schema migrations the stack lacks; exit 0 when current
//	pixie-core healthcheck probe the local /healthz; exit 0 if healthy, else 1
//	pixie-core version     print build information
//
// Configuration comes from PIXIE_* environment variables; see internal/config.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pixie-photos/pixie/core/internal/buildinfo"
	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/server"
	"github.com/pixie-photos/pixie/core/pkg/health"
	"github.com/pixie-photos/pixie/core/pkg/settings"
)

// Exit codes. Usage and configuration errors use 2, like flag parsing does.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "pixie-core: %s takes no arguments\n", cmd)
		return exitUsage
	}
	switch cmd {
	case "serve":
		return serve(getenv, stderr)
	case "migrate":
		return migrate(getenv, stdout, stderr)
	case "healthcheck":
		return health.Command("pixie-core", func() (string, error) {
			cfg, err := config.Load(getenv)
			return cfg.HealthcheckURL(), err
		}, stderr)
	case "version", "--version", "-v":
		return printVersion(stdout)
	default:
		fmt.Fprintf(stderr, "pixie-core: unknown command %q (want serve, migrate, healthcheck or version)\n", cmd)
		return exitUsage
	}
}

func serve(getenv func(string) string, stderr io.Writer) int {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "pixie-core: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	settings.Decode{Memory: cfg.DecodeMemory, Wait: cfg.DecodeWait}.SetMemoryLimit(getenv)

	// As PID 1 in a container nothing else handles SIGTERM, so we must.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	srv, err := server.New(cfg, logger)
	if err != nil {
		logger.Error("startup failed", slog.Any("error", err))
		return exitFail
	}
	if err := srv.Run(ctx); err != nil {
		return exitFail
	}
	return exitOK
}

func printVersion(stdout io.Writer) int {
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(buildinfo.Get()); err != nil {
		return exitFail
	}
	return exitOK
}
