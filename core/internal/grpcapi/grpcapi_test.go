package grpcapi_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/internal/grpcapi"
	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/settings"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

type env struct {
	conn   *grpc.ClientConn
	client photov1.PhotoServiceClient
	dir    string
}

func start(t *testing.T, maxUploadBytes int64, reflection bool) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	st, err := embedded.Open(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := grpcapi.NewServer(grpcapi.Options{
		Photos:        photos.New(st, &events.Bus{}, photos.Limits{MaxUploadBytes: maxUploadBytes, DecodeMemory: settings.DefaultDecodeMemory, DecodeWait: settings.DefaultDecodeWait}),
		Logger:        logger,
		Reflection:    reflection,
		UploadTimeout: config.DefaultUploadTimeout,
		RPCTimeout:    config.DefaultRPCTimeout,
	})
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		_ = st.Close()
	})
	return &env{conn: conn, client: photov1.NewPhotoServiceClient(conn), dir: dir}
}

var ctx = context.Background()

// upload sends data in chunks of chunkSize after a metadata message.
func (e *env) upload(t *testing.T, filename string, data []byte, chunkSize int) (*photov1.UploadResponse, error) {
	t.Helper()
	stream, err := e.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: filename}}}); err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(chunkSize, len(data))
		if err := stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break // the server ended the stream early; CloseAndRecv reports why
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

func expectCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func (e *env) expectNothingStored(t *testing.T) {
	t.Helper()
	resp, err := e.client.List(ctx, &photov1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPhotos()) != 0 {
		t.Fatalf("%d photos stored, want none", len(resp.GetPhotos()))
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "originals")); len(entries) != 0 {
		t.Fatalf("originals on disk: %v", entries)
	}
}

func TestUploadGetListThumbnailDelete(t *testing.T) {
	e := start(t, 1<<20, false)
	data := imagetest.PNG(300, 150, 1)

	up, err := e.upload(t, "../../sunset.png", data, 1000)
	if err != nil {
		t.Fatal(err)
	}
	p := up.GetPhoto()
	if !up.GetCreated() || p.GetFilename() != "sunset.png" || p.GetContentType() != "image/png" ||
		p.GetWidth() != 300 || p.GetHeight() != 150 || p.GetSizeBytes() != int64(len(data)) || p.GetCreatedAt() == nil {
		t.Fatalf("upload response = %v", up)
	}

	dup, err := e.upload(t, "again.png", data, 4096)
	if err != nil || dup.GetCreated() || dup.GetPhoto().GetId() != p.GetId() {
		t.Fatalf("duplicate upload = %v, %v", dup, err)
	}

	got, err := e.client.Get(ctx, &photov1.GetRequest{Id: p.GetId()})
	if err != nil || got.GetPhoto().GetSha256() != p.GetSha256() {
		t.Fatalf("Get = %v, %v", got, err)
	}

	list, err := e.client.List(ctx, &photov1.ListRequest{PageSize: 10})
	if err != nil || len(list.GetPhotos()) != 1 || list.GetNextCursor() != "" {
		t.Fatalf("List = %v, %v", list, err)
	}

	th, err := e.client.GetThumbnail(ctx, &photov1.GetThumbnailRequest{Id: p.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(th.GetJpeg()))
	if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 128 || th.GetWidth() != 256 || th.GetHeight() != 128 {
		t.Fatalf("default thumbnail: %v, %v, reported %dx%d", err, img.Bounds(), th.GetWidth(), th.GetHeight())
	}

	if _, err := e.client.Delete(ctx, &photov1.DeleteRequest{Id: p.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Get(ctx, &photov1.GetRequest{Id: p.GetId()})
	expectCode(t, err, codes.NotFound)
	e.expectNothingStored(t)
}

func TestListPages(t *testing.T) {
	e := start(t, 1<<20, false)
	for i := range 5 {
		if _, err := e.upload(t, "p.png", imagetest.PNG(4, 4, uint8(i)), 512); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for range 5 {
		resp, err := e.client.List(ctx, &photov1.ListRequest{PageSize: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetPhotos() {
			seen[p.GetId()] = true
		}
		if cursor = resp.GetNextCursor(); cursor == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d distinct photos, want 5", len(seen))
	}
}

func TestUploadBadInput(t *testing.T) {
	jpg := imagetest.JPEG(64, 64, 1)
	cases := map[string]struct {
		data []byte
		want codes.Code
	}{
		"unsupported type": {[]byte("definitely not an image"), codes.InvalidArgument},
		"truncated":        {jpg[:len(jpg)/2], codes.InvalidArgument},
		"empty":            {nil, codes.InvalidArgument},
		"too large":        {bytes.Repeat([]byte{0xFF}, 10_000), codes.ResourceExhausted},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := start(t, 4096, false)
			_, err := e.upload(t, "x.jpg", tc.data, 1024)
			expectCode(t, err, tc.want)
			e.expectNothingStored(t)
		})
	}
}

func TestUploadProtocolErrors(t *testing.T) {
	e := start(t, 1<<20, false)

	// Chunk before metadata.
	stream, err := e.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: imagetest.PNG(2, 2, 1)}})
	_, err = stream.CloseAndRecv()
	expectCode(t, err, codes.FailedPrecondition)

	// Metadata twice.
	stream, err = e.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md := &photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: "a.png"}}}
	_ = stream.Send(md)
	_ = stream.Send(md)
	_, err = stream.CloseAndRecv()
	expectCode(t, err, codes.FailedPrecondition)

	// No messages at all.
	stream, err = e.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.CloseAndRecv()
	expectCode(t, err, codes.InvalidArgument)
	e.expectNothingStored(t)
}

func TestBadArgumentsAndUnknownIDs(t *testing.T) {
	e := start(t, 1<<20, false)
	up, err := e.upload(t, "a.png", imagetest.PNG(50, 50, 1), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	id := up.GetPhoto().GetId()

	for _, n := range []int32{-1, 1001} {
		_, err := e.client.List(ctx, &photov1.ListRequest{PageSize: n})
		expectCode(t, err, codes.InvalidArgument)
	}
	_, err = e.client.List(ctx, &photov1.ListRequest{Cursor: "../../etc"})
	expectCode(t, err, codes.InvalidArgument)
	for _, size := range []int32{-1, 15, 2049} {
		_, err := e.client.GetThumbnail(ctx, &photov1.GetThumbnailRequest{Id: id, Size: size})
		expectCode(t, err, codes.InvalidArgument)
	}

	expectIDCode := func(id string, want codes.Code) {
		t.Helper()
		_, err := e.client.Get(ctx, &photov1.GetRequest{Id: id})
		expectCode(t, err, want)
		_, err = e.client.Delete(ctx, &photov1.DeleteRequest{Id: id})
		expectCode(t, err, want)
		_, err = e.client.GetThumbnail(ctx, &photov1.GetThumbnailRequest{Id: id})
		expectCode(t, err, want)
	}
	expectIDCode(strings.Repeat("0", 26), codes.NotFound)
	for _, malformed := range []string{"", "../../etc/passwd", strings.Repeat("0", 25), strings.Repeat("U", 26)} {
		expectIDCode(malformed, codes.InvalidArgument)
	}
}

func TestHealth(t *testing.T) {
	e := start(t, 1<<20, false)
	hc := healthpb.NewHealthClient(e.conn)
	for _, svc := range []string{"", "photo.v1.PhotoService"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v, %v", svc, resp, err)
		}
	}
}

func reflectionError(t *testing.T, e *env) error {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil && err != io.EOF {
		return err
	}
	resp, err := stream.Recv()
	if err != nil {
		return err
	}
	for _, s := range resp.GetListServicesResponse().GetService() {
		if s.GetName() == "photo.v1.PhotoService" {
			return nil
		}
	}
	t.Fatalf("reflection does not list the photo service: %v", resp)
	return nil
}

func TestReflectionOffByDefault(t *testing.T) {
	expectCode(t, reflectionError(t, start(t, 1<<20, false)), codes.Unimplemented)
}

func TestReflectionWhenEnabled(t *testing.T) {
	if err := reflectionError(t, start(t, 1<<20, true)); err != nil {
		t.Fatalf("reflection enabled but failed: %v", err)
	}
}

func TestUploadOverTheDecodeBudgetIsResourceExhausted(t *testing.T) {
	e := start(t, 8<<20, false)
	for _, data := range [][]byte{imagetest.ProgressiveJPEG(7000, 7000, 1), imagetest.ZeroPNG(100_000_000, 1, 8, 0)} {
		_, err := e.upload(t, "big", data, 1<<20)
		expectCode(t, err, codes.ResourceExhausted)
		if !strings.Contains(err.Error(), "too large to decode") {
			t.Fatalf("message %q does not say why", err)
		}
	}
	e.expectNothingStored(t)
}
