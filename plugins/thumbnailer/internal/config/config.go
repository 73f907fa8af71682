// Package config reads pixie-thumbnailer's settings from PIXIE_* environment
// variables: the stack's servers and the decode budget exactly as
// pixie-core reads them (core/pkg/settings), and the thumbnailer's own.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/settings"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// Defaults, exported so documentation and tests can refer to them.
const (
	DefaultHealthAddr      = ":8081"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultBackendTimeout  = 5 * time.Second
	DefaultMaxDeliver      = 5
	DefaultAckWait         = 30 * time.Second
	DefaultRetryBackoff    = time.Second
	maxWorkers             = 64
	maxDeliverLimit        = 100
)

// DefaultSizes are the ladder steps rendered ahead of requests: a grid's
// thumbnail and a screen's preview.
var DefaultSizes = []int{256, 1024}

// Config is the complete runtime configuration.
type Config struct {
	Stack  settings.Stack
	Decode settings.Decode
	// Sizes are the thumbnail sizes rendered for every uploaded photo, each
	// a step of store.ThumbnailLadder.
	Sizes      []int
	HealthAddr string
	LogLevel   slog.Level
	// ShutdownTimeout bounds finishing the events in hand on SIGTERM; those
	// not done by then are given back (nak) for redelivery at once.
	ShutdownTimeout time.Duration
	// BackendTimeout bounds each storage operation (Postgres, S3).
	BackendTimeout time.Duration
	// Workers handle events at once, each one at a time.
	Workers int
	// MaxDeliver is how many attempts an event gets before it goes to the
	// dead-letter subject.
	MaxDeliver int
	// AckWait is how long the server waits for an answer to a delivery
	// before delivering it again (a worker in progress extends it).
	AckWait time.Duration
	// RetryBackoff is the delay before the second attempt; it doubles for
	// each further one, up to MaxRetryDelay.
	RetryBackoff time.Duration
}

// ErrNoStack is the error of a configuration without the stack's servers.
var ErrNoStack = errors.New("pixie-thumbnailer runs on the stack only: set PIXIE_DATABASE_URL_FILE, PIXIE_S3_ENDPOINT, " +
	"PIXIE_S3_ACCESS_KEY_FILE, PIXIE_S3_SECRET_KEY_FILE and PIXIE_NATS_URL, as for pixie-core")

// Load reads the configuration through getenv (os.Getenv in production, a
// map in tests). An unset or empty variable means its default.
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{
		Sizes:           DefaultSizes,
		HealthAddr:      DefaultHealthAddr,
		ShutdownTimeout: DefaultShutdownTimeout,
		BackendTimeout:  DefaultBackendTimeout,
		Workers:         runtime.GOMAXPROCS(0),
		MaxDeliver:      DefaultMaxDeliver,
		AckWait:         DefaultAckWait,
		RetryBackoff:    DefaultRetryBackoff,
	}
	stack, err := settings.LoadStack(getenv)
	if err != nil {
		return cfg, err
	}
	if stack == nil {
		return cfg, ErrNoStack
	}
	cfg.Stack = *stack
	if cfg.Decode, err = settings.LoadDecode(getenv); err != nil {
		return cfg, err
	}
	if cfg.LogLevel, err = settings.LoadLogLevel(getenv); err != nil {
		return cfg, err
	}
	if err := settings.LoadAddr(getenv, "PIXIE_HEALTH_ADDR", ":8081", &cfg.HealthAddr); err != nil {
		return cfg, err
	}
	err = settings.LoadDurations(getenv,
		settings.Duration{Name: "PIXIE_SHUTDOWN_TIMEOUT", Example: "10s", Dst: &cfg.ShutdownTimeout},
		settings.Duration{Name: "PIXIE_BACKEND_TIMEOUT", Example: "5s", Dst: &cfg.BackendTimeout},
		settings.Duration{Name: "PIXIE_THUMBNAILER_ACK_WAIT", Example: "30s", Dst: &cfg.AckWait},
		settings.Duration{Name: "PIXIE_THUMBNAILER_RETRY_BACKOFF", Example: "1s", Dst: &cfg.RetryBackoff})
	if err != nil {
		return cfg, err
	}
	if cfg.AckWait < time.Second {
		return cfg, &settings.Error{Var: "PIXIE_THUMBNAILER_ACK_WAIT", Value: cfg.AckWait.String(), Fix: "use at least 1s, e.g. 30s"}
	}
	if cfg.Sizes, err = loadSizes(getenv("PIXIE_THUMBNAIL_SIZES")); err != nil {
		return cfg, err
	}
	for _, n := range []struct {
		name string
		max  int
		dst  *int
	}{
		{"PIXIE_THUMBNAILER_WORKERS", maxWorkers, &cfg.Workers},
		{"PIXIE_THUMBNAILER_MAX_DELIVER", maxDeliverLimit, &cfg.MaxDeliver},
	} {
		if v := getenv(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 || i > n.max {
				return cfg, &settings.Error{Var: n.name, Value: v, Fix: fmt.Sprintf("use a whole number from 1 to %d", n.max)}
			}
			*n.dst = i
		}
	}
	return cfg, nil
}

// loadSizes reads a comma-separated list of ladder steps; empty means the
// defaults.
func loadSizes(v string) ([]int, error) {
	if v == "" {
		return DefaultSizes, nil
	}
	steps := make([]string, len(store.ThumbnailLadder))
	for i, step := range store.ThumbnailLadder {
		steps[i] = strconv.Itoa(step)
	}
	bad := &settings.Error{Var: "PIXIE_THUMBNAIL_SIZES", Value: v,
		Fix: "use thumbnail ladder steps (" + strings.Join(steps, ", ") + ") separated by commas, e.g. 256,1024: pixie-core serves only those"}
	var sizes []int
	for _, field := range strings.Split(v, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || store.LadderStep(size) != size || slices.Contains(sizes, size) {
			return nil, bad
		}
		sizes = append(sizes, size)
	}
	return sizes, nil
}

// HealthcheckURL is the URL the healthcheck subcommand probes: /healthz (the
// process runs), or with ready /readyz (it consumes and reaches its servers).
func (c Config) HealthcheckURL(ready bool) string {
	if ready {
		return settings.HealthcheckURL(c.HealthAddr, "/readyz")
	}
	return settings.HealthcheckURL(c.HealthAddr, "/healthz")
}
