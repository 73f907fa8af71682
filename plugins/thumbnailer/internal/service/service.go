// Package service wires pixie-thumbnailer: the stack's clients (Postgres,
// S3, NATS), the decode budget, the renderer and the consumer, its health
// endpoints, and its lifecycle: start before the servers answer, consume
// once the schema is pixie-core's and the streams exist, stop gracefully.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	"github.com/pixie-photos/pixie/core/pkg/imaging/budget"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/retry"
	"github.com/pixie-photos/pixie/core/pkg/store"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/config"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/consumer"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/render"
)

// Name is the durable consumer's name and the client name NATS lists.
const Name = "thumbnailer"

// Bootstrap timing: the first retry comes quickly, so that the plugin
// consumes soon after its servers answer.
const (
	bootMinBackoff = 50 * time.Millisecond
	bootMaxBackoff = 2 * time.Second
)

// Service is a wired pixie-thumbnailer with its health listener bound.
type Service struct {
	cfg      config.Config
	logger   *slog.Logger
	pg       *pgmeta.Store
	s3       *s3blob.Store
	store    *store.Store
	nc       *nats.Conn
	consumer *consumer.Consumer
	health   *http.Server
	ln       net.Listener
	// starting is why events are not consumed yet; nil once they are.
	starting *retry.Starting
}

var errStarting = errors.New("starting: waiting for pixie-core's schema and the event streams")

// New makes the clients without connecting and binds the health listener,
// so that configuration and port errors surface before anything runs.
func New(cfg config.Config, logger *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, logger: logger, starting: retry.NewStarting(errStarting)}
	var err error
	if s.pg, err = pgmeta.Open(cfg.Stack.DatabaseURL, cfg.BackendTimeout); err != nil {
		return nil, err
	}
	s.s3, err = s3blob.New(s3blob.Config{Endpoint: cfg.Stack.S3Endpoint, Region: cfg.Stack.S3Region, Bucket: cfg.Stack.S3Bucket,
		AccessKey: cfg.Stack.S3AccessKey, SecretKey: cfg.Stack.S3SecretKey, ConnectTimeout: cfg.BackendTimeout})
	if err != nil {
		_ = s.pg.Close()
		return nil, err
	}
	s.store = store.New(s.pg, s.s3, store.Options{Logger: logger, Timeout: cfg.BackendTimeout, Gate: s.starting.Err})
	decoder := budget.New(budget.Options{Bytes: cfg.Decode.Memory, Wait: cfg.Decode.Wait, Logger: logger})
	renderer := render.New(s.store, decoder, cfg.Sizes, logger)
	var js jetstream.JetStream
	s.nc, js, err = natsrelay.Connect(cfg.Stack.NATSURL, cfg.Stack.NATSCredsFile, "pixie-"+Name,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected; events wait in the stream", slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", slog.String("server", nc.ConnectedUrlRedacted()))
		}))
	if err != nil {
		_ = s.pg.Close()
		return nil, err
	}
	s.consumer = consumer.New(js, consumer.Config{
		Prefix: cfg.Stack.NATSPrefix, Name: Name, Kinds: []string{events.KindUploaded, events.KindDeleted},
		Workers: cfg.Workers, MaxDeliver: cfg.MaxDeliver, AckWait: cfg.AckWait, RetryBackoff: cfg.RetryBackoff,
		ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger,
	}, renderer.Handle, render.Permanent)
	if s.ln, err = net.Listen("tcp", cfg.HealthAddr); err != nil {
		s.close()
		return nil, fmt.Errorf("listen for health checks on %s: %w", cfg.HealthAddr, err)
	}
	s.health = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Run consumes until ctx ends, then stops: no new event is taken, those
// in hand finish within the shutdown timeout or are given back.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	serveErr := make(chan error, 1)
	go func() {
		if err := s.health.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("health server: %w", err)
		}
	}()
	s.logger.Info("pixie-thumbnailer serving",
		slog.String("health_addr", s.ln.Addr().String()), slog.Any("sizes", s.cfg.Sizes), slog.Int("workers", s.cfg.Workers),
		slog.String("consumer", Name), slog.String("stream", natsrelay.StreamName(s.cfg.Stack.NATSPrefix)),
		slog.String("postgres", s.pg.Server()), slog.String("s3", s.s3.Server()), slog.String("nats", natsrelay.Redact(s.cfg.Stack.NATSURL)))

	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	var consuming sync.WaitGroup
	consuming.Go(func() {
		if cons, ok := s.bootstrap(consumeCtx); ok {
			s.consumer.Run(consumeCtx, cons)
		}
	})
	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", slog.String("timeout", s.cfg.ShutdownTimeout.String()))
	case runErr = <-serveErr:
		s.logger.Error("health server failed, shutting down", slog.Any("error", runErr))
	}
	stopConsuming()
	consuming.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.health.Shutdown(shutdown)
	s.logger.Info("shutdown complete")
	return runErr
}

// bootstrap waits until pixie-core's schema is at least the version this
// binary knows, then sets up the streams and the consumer, retrying with
// backoff; false when ctx ended first.
func (s *Service) bootstrap(ctx context.Context) (cons jetstream.Consumer, ok bool) {
	ok = s.starting.Retry(ctx, bootMinBackoff, bootMaxBackoff, func() (err error) {
		cons, err = s.bootstrapOnce(ctx)
		return err
	}, s.logger, "not consuming yet; retrying")
	if ok {
		s.logger.Info("consuming events", slog.String("consumer", Name))
	}
	return cons, ok
}

func (s *Service) bootstrapOnce(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.BackendTimeout)
	defer cancel()
	version, err := s.pg.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if known := len(pgmeta.Migrations); version < known {
		return nil, fmt.Errorf("the database schema is at version %d; pixie-core migrates it to %d (run `pixie-core migrate`)", version, known)
	}
	return s.consumer.Setup(ctx)
}

// ready says why the plugin cannot do its work now, naming what is missing.
func (s *Service) ready(ctx context.Context) error {
	if err := s.starting.Err(); err != nil {
		return err
	}
	if !s.nc.IsConnected() {
		return fmt.Errorf("nats is not connected (%s)", s.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.BackendTimeout)
	defer cancel()
	return s.store.Ready(ctx)
}

func (s *Service) close() {
	s.nc.Close()
	_ = s.store.Close()
}
