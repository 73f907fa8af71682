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
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	photov1 "github.com/pixie-photos/pixie/core/gen/photo/v1"
	"github.com/pixie-photos/pixie/core/internal/photos"
)

// Options configures NewServer.
type Options struct {
	Photos     *photos.Service
	Logger     *slog.Logger
	Reflection bool // off by default: it exposes the full API schema
}

// NewServer returns a gRPC server with all services registered. The health
// server is returned so the caller can flip it to NOT_SERVING on shutdown.
func NewServer(opts Options) (*grpc.Server, *health.Server) {
	s := grpc.NewServer(
		grpc.ChainUnaryInterceptor(logUnary(opts.Logger)),
		grpc.ChainStreamInterceptor(logStream(opts.Logger)),
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
	case errors.Is(err, photos.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, photos.ErrTooLarge):
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
