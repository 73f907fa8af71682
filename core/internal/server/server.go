// Package server wires configuration, storage and both APIs together and owns
// the process lifecycle: listen, serve, and shut down gracefully.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/pixie-photos/pixie/core/internal/apitoken"
	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/internal/grpcapi"
	"github.com/pixie-photos/pixie/core/internal/httpapi"
	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/internal/stack"
	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// backend is where photos are stored, with its background work (sweeping,
// relaying events) and readiness.
type backend interface {
	httpapi.Readiness
	// Run does the background work until ctx ends.
	Run(ctx context.Context)
	Close() error
}

// Server is a fully wired pixie-core with its listeners already bound.
type Server struct {
	cfg     config.Config
	logger  *slog.Logger
	backend backend
	// describe names the backend's servers in the startup log.
	describe []any

	httpServer *http.Server
	httpLn     net.Listener
	grpcServer *grpc.Server
	grpcLn     net.Listener
	health     *health.Server
}

// New opens the backend and binds both listeners, so that configuration and
// port errors surface before serving starts. The stack's servers need not
// be up yet: it connects in Run.
func New(cfg config.Config, logger *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, logger: logger}
	st, err := s.openBackend()
	if err != nil {
		return nil, err
	}

	bus := &events.Bus{}
	bus.Subscribe(events.LogHandler(logger))
	svc := photos.New(st, bus, photos.Limits{
		MaxUploadBytes: cfg.MaxUploadBytes,
		DecodeMemory:   cfg.DecodeMemory,
		DecodeWait:     cfg.DecodeWait,
		DecodeLog:      logger,
	})
	token := apitoken.New(cfg.APIToken)

	s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = s.backend.Close()
		return nil, fmt.Errorf("listen http on %s: %w", cfg.HTTPAddr, err)
	}
	s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		_ = s.httpLn.Close()
		_ = s.backend.Close()
		return nil, fmt.Errorf("listen grpc on %s: %w", cfg.GRPCAddr, err)
	}

	s.httpServer = &http.Server{
		Handler: httpapi.New(httpapi.Options{Photos: svc, Ready: s.backend, Backend: cfg.Backend(), Logger: logger,
			Token: token, UploadTimeout: cfg.UploadTimeout}),
		ReadHeaderTimeout: 10 * time.Second,
		// Bounds reading a whole request, so a trickled upload is cut off;
		// the upload handler restarts it once the file is in.
		ReadTimeout: cfg.UploadTimeout,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	s.grpcServer, s.health = grpcapi.NewServer(grpcapi.Options{
		Photos:        svc,
		Logger:        logger,
		Reflection:    cfg.GRPCReflection,
		Token:         token,
		UploadTimeout: cfg.UploadTimeout,
		RPCTimeout:    cfg.RPCTimeout,
	})
	return s, nil
}

// openBackend opens the embedded backend or the stack, as configured.
func (s *Server) openBackend() (*store.Store, error) {
	if st := s.cfg.Stack; st != nil {
		for _, w := range st.Warnings {
			s.logger.Warn(w)
		}
		b, err := stack.Open(stack.Config{
			DatabaseURL: st.DatabaseURL,
			S3: s3blob.Config{Endpoint: st.S3Endpoint, Region: st.S3Region, Bucket: st.S3Bucket,
				AccessKey: st.S3AccessKey, SecretKey: st.S3SecretKey},
			NATSURL: st.NATSURL, NATSCredsFile: st.NATSCredsFile, NATSPrefix: st.NATSPrefix,
			Timeout: s.cfg.BackendTimeout, SweepInterval: s.cfg.SweepInterval, SweepGrace: s.cfg.SweepGrace,
		}, s.logger)
		if err != nil {
			return nil, err
		}
		s.backend, s.describe = b, b.Describe()
		return b.Store, nil
	}
	st, err := embedded.Open(s.cfg.DataDir, s.logger)
	if err != nil {
		return nil, err
	}
	pruned, err := st.PruneThumbnails(func(size int) bool { return store.LadderStep(size) == size })
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("prune thumbnails: %w", err)
	}
	if pruned > 0 {
		s.logger.Info("removed cached thumbnails of sizes off the ladder", slog.Int("files", pruned))
	}
	s.backend = embeddedBackend{st, s.cfg}
	s.describe = []any{slog.String("data_dir", s.cfg.DataDir)}
	return st, nil
}

// embeddedBackend is the embedded backend: its one background job is sweeping.
type embeddedBackend struct {
	*store.Store
	cfg config.Config
}

func (e embeddedBackend) Run(ctx context.Context) {
	e.RunSweeper(ctx, e.cfg.SweepInterval, e.cfg.SweepGrace)
}

// HTTPAddr is the bound HTTP address (useful when configured with port 0).
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// GRPCAddr is the bound gRPC address.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLn.Addr() }

// Run serves until ctx is cancelled or a listener fails, then shuts down.
// A shutdown caused by ctx returns nil.
func (s *Server) Run(ctx context.Context) error {
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { s.backend.Run(bgCtx) })
	defer func() {
		stopBackground()
		background.Wait()
		if err := s.backend.Close(); err != nil {
			s.logger.Error("close backend", slog.Any("error", err))
		}
		s.logger.Info("shutdown complete")
	}()

	serveErr := make(chan error, 2)
	go func() {
		if err := s.httpServer.Serve(httpapi.JSONErrorsListener(s.httpLn)); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("http server: %w", err)
		}
	}()
	go func() {
		if err := s.grpcServer.Serve(s.grpcLn); err != nil {
			serveErr <- fmt.Errorf("grpc server: %w", err)
		}
	}()
	s.logger.Info("pixie-core serving", append([]any{
		slog.String("http_addr", s.HTTPAddr().String()),
		slog.String("grpc_addr", s.GRPCAddr().String()),
		slog.String("backend", s.cfg.Backend())}, s.describe...)...)

	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", slog.String("timeout", s.cfg.ShutdownTimeout.String()))
	case runErr = <-serveErr:
		s.logger.Error("server failed, shutting down", slog.Any("error", runErr))
	}
	s.shutdown()
	return runErr
}

// shutdown stops both servers in parallel within one shared deadline; Run
// then closes the backend once nothing can use it any more.
func (s *Server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()

	s.health.Shutdown() // tell gRPC health watchers before connections drain
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.httpServer.Shutdown(ctx); err != nil {
			s.logger.Warn("http shutdown timed out; closing connections", slog.Any("error", err))
			_ = s.httpServer.Close()
		}
	})
	wg.Go(func() {
		done := make(chan struct{})
		go func() {
			s.grpcServer.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.logger.Warn("grpc graceful stop timed out; forcing stop")
			s.grpcServer.Stop()
			<-done
		}
	})
	wg.Wait()
}
