// Package grpcapi serves photo.v1.PhotoService over gRPC, together with the
// standard health service and, when enabled, server reflection.
package grpcapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/pixie-photos/pixie/core/internal/apitoken"
	"github.com/pixie-photos/pixie/core/internal/photos"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// Options configures NewServer.
type Options struct {
	Photos     *photos.Service
	Logger     *slog.Logger
	Reflection bool // off by default: it exposes the full API schema
	// Token, when enabled, is required for Upload and Delete.
	Token apitoken.Checker
	// UploadTimeout bounds an Upload stream; RPCTimeout every unary call.
	UploadTimeout, RPCTimeout time.Duration
}

// Connection limits. A client may ping at most every pingMinTime and only
// while it has calls in flight; idle connections close after maxIdle.
const (
	maxConcurrentStreams = 100
	pingMinTime          = 10 * time.Second
	maxIdle              = 5 * time.Minute
	handshakeTimeout     = 10 * time.Second
)

// NewServer returns a gRPC server with all services registered. The health
// server is returned so the caller can flip it to NOT_SERVING on shutdown.
func NewServer(opts Options) (*grpc.Server, *health.Server) {
	s := grpc.NewServer(
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: pingMinTime}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxIdle, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.ChainUnaryInterceptor(logUnary(opts.Logger), requireToken(opts.Token), unaryDeadline(opts.RPCTimeout)),
		grpc.ChainStreamInterceptor(logStream(opts.Logger), requireTokenStream(opts.Token), uploadDeadline(opts.UploadTimeout)),
	)
	photov1.RegisterPhotoServiceServer(s, &photoService{photos: opts.Photos, logger: opts.Logger})

	h := health.NewServer() // "" (the whole server) starts as SERVING
	h.SetServingStatus(photov1.PhotoService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)

	if opts.Reflection {
		reflection.Register(s)
	}
	return s, h
}

type photoService struct {
	photov1.UnimplementedPhotoServiceServer
	photos *photos.Service
	logger *slog.Logger
}

// errRepeatedMetadata rejects a second metadata message inside one upload.
var errRepeatedMetadata = errors.New("only the first upload message may carry metadata")

func (s *photoService) Upload(stream photov1.PhotoService_UploadServer) error {
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "empty upload stream: send metadata, then chunks")
	}
	if err != nil {
		return err
	}
	md := first.GetMetadata()
	if md == nil {
		return status.Error(codes.FailedPrecondition, "the first upload message must carry metadata")
	}
	p, created, err := s.photos.Upload(stream.Context(), md.GetFilename(), &chunkReader{stream: stream})
	if err != nil {
		return s.toStatus(stream.Context(), err)
	}
	return stream.SendAndClose(&photov1.UploadResponse{Photo: photos.ToProto(p), Created: created})
}

// chunkReader presents the chunks of an upload stream as one io.Reader.
type chunkReader struct {
	stream photov1.PhotoService_UploadServer
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		msg, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF when the client has sent everything
		}
		if msg.GetMetadata() != nil {
			return 0, errRepeatedMetadata
		}
		r.buf = msg.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *photoService) Get(ctx context.Context, req *photov1.GetRequest) (*photov1.GetResponse, error) {
	p, err := s.photos.Get(ctx, req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &photov1.GetResponse{Photo: photos.ToProto(p)}, nil
}

func (s *photoService) List(ctx context.Context, req *photov1.ListRequest) (*photov1.ListResponse, error) {
	limit := int(req.GetPageSize())
	if limit == 0 {
		limit = photos.DefaultListLimit
	}
	page, next, err := s.photos.List(ctx, limit, req.GetCursor())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &photov1.ListResponse{Photos: make([]*photov1.Photo, 0, len(page)), NextCursor: next}
	for _, p := range page {
		resp.Photos = append(resp.Photos, photos.ToProto(p))
	}
	return resp, nil
}

func (s *photoService) Delete(ctx context.Context, req *photov1.DeleteRequest) (*photov1.DeleteResponse, error) {
	if err := s.photos.Delete(ctx, req.GetId()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &photov1.DeleteResponse{}, nil
}

func (s *photoService) GetThumbnail(ctx context.Context, req *photov1.GetThumbnailRequest) (*photov1.GetThumbnailResponse, error) {
	size := int(req.GetSize())
	if size == 0 {
		size = photos.DefaultThumbnailSize
	}
	th, err := s.photos.Thumbnail(ctx, req.GetId(), size)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &photov1.GetThumbnailResponse{Jpeg: th.JPEG, Width: int32(th.Width), Height: int32(th.Height)}, nil
}

// toStatus maps the photos package's errors to gRPC codes.
func (s *photoService) toStatus(ctx context.Context, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Err() // already a gRPC status, e.g. from stream.Recv
	}
	switch {
	case errors.Is(err, photos.ErrMalformedID):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, photos.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, photos.ErrTooLarge), errors.Is(err, photos.ErrImageTooLarge), errors.Is(err, photos.ErrBusy):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, errRepeatedMetadata):
		return status.Error(codes.FailedPrecondition, errRepeatedMetadata.Error())
	case errors.Is(err, photos.ErrInvalidArgument), errors.Is(err, photos.ErrInvalidImage),
		errors.Is(err, photos.ErrUnsupportedType), errors.Is(err, photos.ErrIncompleteUpload):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, photos.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	s.logger.ErrorContext(ctx, "internal error", slog.Any("error", err))
	return status.Error(codes.Internal, "internal error")
}

// writeMethods are the calls that need the API token.
var writeMethods = map[string]bool{
	photov1.PhotoService_Upload_FullMethodName: true,
	photov1.PhotoService_Delete_FullMethodName: true,
}

func checkToken(ctx context.Context, token apitoken.Checker, method string) error {
	if !writeMethods[method] || !token.Enabled() {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) == 1 && token.Allows(v[0]) {
		return nil
	}
	return status.Error(codes.Unauthenticated, "this call needs the API token: send metadata authorization: Bearer <PIXIE_API_TOKEN>")
}

func requireToken(token apitoken.Checker) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := checkToken(ctx, token, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func requireTokenStream(token apitoken.Checker) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := checkToken(ss.Context(), token, info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// unaryDeadline bounds every unary call, whatever deadline the client set.
func unaryDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}

// uploadDeadline bounds an Upload stream. A handler blocked in Recv does not
// see a context it did not create, so the call is ended from here: once
// this returns, gRPC finishes the stream and the pending Recv fails.
// Long-lived streams such as health Watch are left alone.
func uploadDeadline(d time.Duration) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != photov1.PhotoService_Upload_FullMethodName {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithTimeout(ss.Context(), d)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- handler(srv, &contextStream{ServerStream: ss, ctx: ctx}) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			if err := ss.Context().Err(); err != nil {
				return status.FromContextError(err).Err()
			}
			return status.Errorf(codes.DeadlineExceeded, "upload not received within %v (PIXIE_UPLOAD_TIMEOUT); send it faster or raise the limit", d)
		}
	}
}

// contextStream gives a handler a context with the server's deadline.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

func logUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logRPC(ctx, logger, info.FullMethod, start, err)
		return resp, err
	}
}

func logStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logRPC(ss.Context(), logger, info.FullMethod, start, err)
		return err
	}
}

func logRPC(ctx context.Context, logger *slog.Logger, method string, start time.Time, err error) {
	logger.LogAttrs(ctx, slog.LevelDebug, "grpc request",
		slog.String("method", method),
		slog.String("code", status.Code(err).String()),
		slog.Duration("duration", time.Since(start)),
	)
}
