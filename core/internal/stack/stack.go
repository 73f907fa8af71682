// Package stack wires the stack backend: photo metadata in Postgres
// (pgmeta), originals and thumbnails in S3 (s3blob), events through the
// outbox to NATS JetStream (natsrelay). Nothing connects at Open: Run
// migrates the schema and makes the bucket, retrying until both servers
// answer, then relays events and sweeps. Until then, and whenever Postgres
// or S3 is unreachable, requests fail with store.ErrUnavailable and Ready
// says which server is missing.
package stack

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/retry"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// Config is what the stack needs; settings.Stack fills it.
type Config struct {
	DatabaseURL   string
	S3            s3blob.Config
	NATSURL       string
	NATSCredsFile string
	NATSPrefix    string
	// Timeout bounds each storage operation and each connection attempt.
	Timeout time.Duration
	// SweepInterval and SweepGrace drive the sweeper.
	SweepInterval, SweepGrace time.Duration
}

// Backend is the running stack.
type Backend struct {
	Store  *store.Store
	pg     *pgmeta.Store
	s3     *s3blob.Store
	relay  *natsrelay.Relay
	cfg    Config
	logger *slog.Logger
	// starting is why the backend cannot serve yet; nil once migrated
	// and the bucket exists.
	starting *retry.Starting
}

// errStarting is the state before the first bootstrap attempt ends.
var errStarting = errors.New("starting: applying migrations and checking the bucket")

// Open makes the clients without connecting.
func Open(cfg Config, logger *slog.Logger) (*Backend, error) {
	pg, err := pgmeta.Open(cfg.DatabaseURL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	cfg.S3.ConnectTimeout = cfg.Timeout
	s3, err := s3blob.New(cfg.S3)
	if err != nil {
		_ = pg.Close()
		return nil, err
	}
	b := &Backend{pg: pg, s3: s3, cfg: cfg, logger: logger, starting: retry.NewStarting(errStarting)}
	b.relay, err = natsrelay.New(natsrelay.Config{URL: cfg.NATSURL, CredsFile: cfg.NATSCredsFile, Prefix: cfg.NATSPrefix, Logger: logger}, pg)
	if err != nil {
		_ = pg.Close()
		return nil, err
	}
	b.Store = store.New(kickingMeta{pg, b.relay}, s3, store.Options{Logger: logger, Timeout: cfg.Timeout, Gate: b.starting.Err})
	return b, nil
}

// Describe names the servers for the startup log, without secrets.
func (b *Backend) Describe() []any {
	return []any{
		slog.String("postgres", b.pg.Server()),
		slog.String("s3", b.s3.Server()),
		slog.String("nats", natsrelay.Redact(b.cfg.NATSURL)),
		slog.String("nats_stream", natsrelay.StreamName(b.cfg.NATSPrefix)),
	}
}

// Run bootstraps, then relays events and sweeps until ctx ends.
func (b *Backend) Run(ctx context.Context) {
	if !b.bootstrap(ctx) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { b.relay.Run(ctx) })
	wg.Go(func() {
		b.Store.SweepNow(ctx, b.cfg.SweepGrace) // what a crash before this start left behind
		b.Store.RunSweeper(ctx, b.cfg.SweepInterval, b.cfg.SweepGrace)
	})
	wg.Wait()
}

// Bootstrap timing: the first retry comes quickly, so that core is ready
// soon after its servers answer.
const (
	bootMinBackoff = 50 * time.Millisecond
	bootMaxBackoff = time.Second
)

// bootstrap migrates the schema and ensures the bucket, retrying with
// backoff; false when ctx ended first.
func (b *Backend) bootstrap(ctx context.Context) bool {
	start := time.Now()
	if !b.starting.Retry(ctx, bootMinBackoff, bootMaxBackoff, func() error { return b.bootstrapOnce(ctx) }, b.logger, "stack not ready yet; retrying") {
		return false
	}
	b.logger.Info("stack ready", slog.String("took", time.Since(start).String()))
	return true
}

func (b *Backend) bootstrapOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	var migrateErr, bucketErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := b.pg.Migrate(ctx, pgmeta.Migrations)
		if err == nil && res.Applied > 0 {
			b.logger.Info("applied migrations", slog.Int("count", res.Applied), slog.Int("schema_version", res.Version))
		}
		migrateErr = err
	})
	wg.Go(func() { bucketErr = b.s3.EnsureBucket(ctx) })
	wg.Wait()
	return errors.Join(migrateErr, bucketErr)
}

// Ready reports whether requests can be served: migrated, and Postgres and
// S3 answering. NATS is not needed: events wait in the outbox.
func (b *Backend) Ready(ctx context.Context) error { return b.Store.Ready(ctx) }

// ReadyDetails says how events flow, for /readyz.
func (b *Backend) ReadyDetails(ctx context.Context) map[string]string {
	details := map[string]string{"nats": b.relay.Status()}
	if n, err := b.pg.OutboxPending(ctx); err == nil {
		details["events_pending"] = strconv.Itoa(n)
	}
	return details
}

// Close ends the connections.
func (b *Backend) Close() error {
	b.relay.Close()
	return b.Store.Close()
}

// kickingMeta wakes the relay after each change that wrote an event.
type kickingMeta struct {
	*pgmeta.Store
	relay *natsrelay.Relay
}

func (m kickingMeta) Create(ctx context.Context, p store.Photo) (store.Photo, bool, error) {
	stored, created, err := m.Store.Create(ctx, p)
	if created {
		m.relay.Kick()
	}
	return stored, created, err
}

func (m kickingMeta) Delete(ctx context.Context, id string) (store.Photo, error) {
	p, err := m.Store.Delete(ctx, id)
	if err == nil {
		m.relay.Kick()
	}
	return p, err
}
