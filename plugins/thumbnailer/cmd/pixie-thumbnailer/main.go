// Command pixie-thumbnailer is the thumbnailer plugin of pixie: it consumes
// pixie-core's photo events from NATS JetStream and renders each uploaded
// photo's thumbnails ahead of requests, into the same S3 bucket and
// thumbnail index that pixie-core serves them from.
//
// Usage:
//
//	pixie-thumbnailer [run]                consume events until SIGTERM/SIGINT (default)
//	pixie-thumbnailer healthcheck [--ready] probe the local /healthz (/readyz); exit 0 if healthy, else 1
//	pixie-thumbnailer version              print build information
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

	"github.com/pixie-photos/pixie/core/pkg/health"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/buildinfo"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/config"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/service"
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
	cmd := "run"
	if len(args) > 0 {
		cmd = args[0]
	}
	// `healthcheck --ready` is the stack's health check: healthy once events are consumed.
	ready := cmd == "healthcheck" && len(args) == 2 && args[1] == "--ready"
	switch {
	case ready:
	case cmd == "healthcheck" && len(args) > 1:
		fmt.Fprintln(stderr, "pixie-thumbnailer: healthcheck takes only --ready (probe /readyz rather than /healthz)")
		return exitUsage
	case len(args) > 1:
		fmt.Fprintf(stderr, "pixie-thumbnailer: %s takes no arguments\n", cmd)
		return exitUsage
	}
	switch cmd {
	case "run":
		return serve(getenv, stderr)
	case "healthcheck":
		return health.Command("pixie-thumbnailer", func() (string, error) {
			cfg, err := config.Load(getenv)
			return cfg.HealthcheckURL(ready), err
		}, stderr)
	case "version", "--version", "-v":
		if err := json.NewEncoder(stdout).Encode(buildinfo.Get()); err != nil {
			return exitFail
		}
		return exitOK
	default:
		fmt.Fprintf(stderr, "pixie-thumbnailer: unknown command %q (want run, healthcheck or version)\n", cmd)
		return exitUsage
	}
}

func serve(getenv func(string) string, stderr io.Writer) int {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "pixie-thumbnailer: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	for _, w := range cfg.Stack.Warnings {
		logger.Warn(w)
	}
	cfg.Decode.SetMemoryLimit(getenv)

	// As PID 1 in a container nothing else handles SIGTERM, so we must.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc, err := service.New(cfg, logger)
	if err != nil {
		logger.Error("startup failed", slog.Any("error", err))
		return exitFail
	}
	if err := svc.Run(ctx); err != nil {
		return exitFail
	}
	return exitOK
}
