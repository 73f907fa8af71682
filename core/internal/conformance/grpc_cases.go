package conformance

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

func expectCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

var _ = register("grpc health", func(t *testing.T, tg *Target) {
	resp, err := healthpb.NewHealthClient(tg.Conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: photov1.PhotoService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
})

var _ = register("grpc upload, get, list, thumbnail, delete", func(t *testing.T, tg *Target) {
	ctx := context.Background()
	data := imagetest.PNG(300, 150, uint8(time.Now().UnixNano()))
	up, err := tg.UploadGRPC(ctx, "../../sunset.png", data)
	if err != nil || !up.GetCreated() {
		t.Fatalf("upload: %v %v", up, err)
	}
	p := up.GetPhoto()
	if p.GetFilename() != "sunset.png" || p.GetContentType() != "image/png" || p.GetWidth() != 300 || p.GetHeight() != 150 ||
		p.GetSizeBytes() != int64(len(data)) || p.GetSha256() != SHA256(data) {
		t.Fatalf("photo = %v", p)
	}
	again, err := tg.UploadGRPC(ctx, "copy.png", data)
	if err != nil || again.GetCreated() || again.GetPhoto().GetId() != p.GetId() {
		t.Fatalf("same bytes again: %v %v", again, err)
	}
	got, err := tg.GRPC.Get(ctx, &photov1.GetRequest{Id: p.GetId()})
	if err != nil || got.GetPhoto().GetSha256() != p.GetSha256() || !got.GetPhoto().GetCreatedAt().AsTime().Equal(p.GetCreatedAt().AsTime()) {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := tg.GRPC.List(ctx, &photov1.ListRequest{PageSize: 1})
	if err != nil || len(list.GetPhotos()) != 1 || list.GetPhotos()[0].GetId() != p.GetId() {
		t.Fatalf("list: %v %v", list, err)
	}
	th, err := tg.GRPC.GetThumbnail(ctx, &photov1.GetThumbnailRequest{Id: p.GetId(), Size: 100})
	if err != nil || th.GetWidth() != 128 || th.GetHeight() != 64 || len(th.GetJpeg()) == 0 {
		t.Fatalf("thumbnail: %dx%d %v", th.GetWidth(), th.GetHeight(), err)
	}
	// The same thumbnail over HTTP: one cache for both APIs.
	if r := tg.Get("/api/photos/"+p.GetId()+"/thumbnail?size=128", nil); !bytes.Equal(r.Body, th.GetJpeg()) {
		t.Fatalf("HTTP thumbnail differs from gRPC's (%d)", r.Status)
	}
	if _, err := tg.GRPC.Delete(tg.GRPCContext(ctx), &photov1.DeleteRequest{Id: p.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = tg.GRPC.Get(ctx, &photov1.GetRequest{Id: p.GetId()})
	expectCode(t, err, codes.NotFound)
	_, err = tg.GRPC.Delete(tg.GRPCContext(ctx), &photov1.DeleteRequest{Id: p.GetId()})
	expectCode(t, err, codes.NotFound)
})

var _ = register("grpc and http share photos", func(t *testing.T, tg *Target) {
	ctx := context.Background()
	data := UniqueJPEG(50, 40)
	byHTTP := tg.upload(t, "h.jpg", data)
	up, err := tg.UploadGRPC(ctx, "g.jpg", data)
	if err != nil || up.GetCreated() || up.GetPhoto().GetId() != byHTTP.ID {
		t.Fatalf("gRPC upload of HTTP's bytes: %v %v", up, err)
	}
	other := UniqueJPEG(50, 40)
	up, err = tg.UploadGRPC(ctx, "g2.jpg", other)
	if err != nil || !up.GetCreated() {
		t.Fatal(err)
	}
	r := tg.Get("/api/photos/"+up.GetPhoto().GetId()+"/original", nil)
	if !bytes.Equal(r.Body, other) {
		t.Fatalf("HTTP original of a gRPC upload: %d, %d bytes", r.Status, len(r.Body))
	}
})

var _ = register("grpc errors", func(t *testing.T, tg *Target) {
	ctx := context.Background()
	_, err := tg.GRPC.Get(ctx, &photov1.GetRequest{Id: "not-an-id"})
	expectCode(t, err, codes.InvalidArgument)
	_, err = tg.GRPC.Get(ctx, &photov1.GetRequest{Id: strings.Repeat("0", 26)})
	expectCode(t, err, codes.NotFound)
	_, err = tg.GRPC.List(ctx, &photov1.ListRequest{Cursor: "nope"})
	expectCode(t, err, codes.InvalidArgument)
	_, err = tg.GRPC.List(ctx, &photov1.ListRequest{PageSize: 1001})
	expectCode(t, err, codes.InvalidArgument)
	_, err = tg.UploadGRPC(ctx, "notes.txt", []byte("plain text, not an image"))
	expectCode(t, err, codes.InvalidArgument)
	_, err = tg.UploadGRPC(ctx, "huge.jpg", bytes.Repeat([]byte{0xff}, MaxUploadBytes+1))
	expectCode(t, err, codes.ResourceExhausted)
	_, err = tg.UploadGRPC(ctx, "bomb.png", imagetest.ZeroPNG(100_000_000, 1, 8, 0))
	expectCode(t, err, codes.ResourceExhausted)

	noToken := &apitest.Client{GRPC: tg.GRPC}
	_, err = noToken.UploadGRPC(ctx, "t.jpg", UniqueJPEG(8, 8))
	expectCode(t, err, codes.Unauthenticated)
	_, err = tg.GRPC.Delete(ctx, &photov1.DeleteRequest{Id: strings.Repeat("0", 26)})
	expectCode(t, err, codes.Unauthenticated)

	// A stream without metadata first.
	stream, err := tg.GRPC.Upload(tg.GRPCContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: []byte("x")}})
	_, err = stream.CloseAndRecv()
	expectCode(t, err, codes.FailedPrecondition)
})

var _ = register("events: one per acknowledged upload and delete", func(t *testing.T, tg *Target) {
	p := tg.upload(t, "e.jpg", UniqueJPEG(33, 33))
	tg.Upload("e-again.jpg", nil) // refused: no event
	if r := tg.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	want := map[Event]int{{"photo.uploaded", p.ID}: 1, {"photo.deleted", p.ID}: 1}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[Event]int{}
		for _, e := range tg.Events(t) {
			if e.PhotoID == p.ID {
				got[e]++
			}
		}
		if len(got) == len(want) && got[Event{"photo.uploaded", p.ID}] == 1 && got[Event{"photo.deleted", p.ID}] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of %s: %v, want %v", p.ID, got, want)
		}
		time.Sleep(50 * time.Millisecond) // polling for asynchronous delivery
	}
})
