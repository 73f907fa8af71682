package photos_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/settings"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

type fixture struct {
	svc    *photos.Service
	dir    string
	mu     sync.Mutex // uploads may publish concurrently
	events []proto.Message
}

func newFixture(t *testing.T, maxBytes int64) *fixture {
	t.Helper()
	return newFixtureWith(t, photos.Limits{MaxUploadBytes: maxBytes, DecodeMemory: settings.DefaultDecodeMemory, DecodeWait: settings.DefaultDecodeWait})
}

func newFixtureWith(t *testing.T, limits photos.Limits) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	st, err := embedded.Open(f.dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bus := &events.Bus{}
	bus.Subscribe(func(_ context.Context, e proto.Message) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	})
	f.svc = photos.New(st, bus, limits)
	return f
}

func (f *fixture) count(t *testing.T) int {
	t.Helper()
	page, _, err := f.svc.List(context.Background(), photos.MaxListLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(page)
}

var ctx = context.Background()

func TestUploadEveryFormat(t *testing.T) {
	f := newFixture(t, 1<<20)
	cases := []struct {
		data        []byte
		contentType string
		w, h        int
	}{
		{imagetest.JPEG(40, 30, 1), "image/jpeg", 40, 30},
		{imagetest.PNG(20, 50, 1), "image/png", 20, 50},
		{imagetest.GIF(33, 17, 1), "image/gif", 33, 17},
		{imagetest.WebP, "image/webp", imagetest.WebPWidth, imagetest.WebPHeight},
	}
	for _, tc := range cases {
		// The name lies about the type: detection must use the bytes.
		p, created, err := f.svc.Upload(ctx, "misleading.txt", bytes.NewReader(tc.data))
		if err != nil || !created {
			t.Fatalf("%s: Upload = %v, %v", tc.contentType, created, err)
		}
		if p.ContentType != tc.contentType || p.Width != tc.w || p.Height != tc.h || p.Size != int64(len(tc.data)) {
			t.Fatalf("%s: stored %+v", tc.contentType, p)
		}
	}
	if len(f.events) != len(cases) {
		t.Fatalf("published %d events, want %d", len(f.events), len(cases))
	}
	up, ok := f.events[0].(*photov1.PhotoUploaded)
	if !ok || up.GetPhoto().GetContentType() != "image/jpeg" || up.GetPhoto().GetCreatedAt() == nil {
		t.Fatalf("first event = %v", f.events[0])
	}
}

func TestUploadDeduplicates(t *testing.T) {
	f := newFixture(t, 1<<20)
	data := imagetest.PNG(10, 10, 7)
	first, _, err := f.svc.Upload(ctx, "a.png", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	second, created, err := f.svc.Upload(ctx, "b.png", bytes.NewReader(data))
	if err != nil || created || second.ID != first.ID || second.Filename != "a.png" {
		t.Fatalf("dedupe: %+v created=%v err=%v", second, created, err)
	}
	if len(f.events) != 1 {
		t.Fatalf("a deduplicated upload must not publish; got %d events", len(f.events))
	}
}

func TestUploadRejectsBadInputAndStoresNothing(t *testing.T) {
	jpg := imagetest.JPEG(64, 64, 3)
	cases := map[string]struct {
		data []byte
		want error
	}{
		"text":      {[]byte("hello, I am not a picture"), photos.ErrUnsupportedType},
		"html":      {[]byte("<!DOCTYPE html><html></html>"), photos.ErrUnsupportedType},
		"truncated": {jpg[:len(jpg)/2], photos.ErrInvalidImage},
		"corrupt":   {append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x42}, 200)...), photos.ErrInvalidImage},
		"empty":     {nil, photos.ErrInvalidImage},
		"too large": {imagetest.JPEG(300, 300, 1), photos.ErrTooLarge}, // valid, but > 4096 bytes
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 4096)
			_, _, err := f.svc.Upload(ctx, "x.jpg", bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if n := f.count(t); n != 0 {
				t.Fatalf("%d photos stored after rejected upload", n)
			}
			if entries, _ := os.ReadDir(filepath.Join(f.dir, "originals")); len(entries) != 0 {
				t.Fatalf("files left in originals: %v", entries)
			}
			if len(f.events) != 0 {
				t.Fatalf("events published for rejected upload: %v", f.events)
			}
		})
	}
}

func TestUploadAcceptsExactlyTheLimit(t *testing.T) {
	data := imagetest.PNG(8, 8, 1)
	f := newFixture(t, int64(len(data)))
	if _, _, err := f.svc.Upload(ctx, "x.png", bytes.NewReader(data)); err != nil {
		t.Fatalf("upload of exactly the limit: %v", err)
	}
}

func TestSanitizeFilename(t *testing.T) {
	cases := map[string]string{
		"cat.jpg":                         "cat.jpg",
		"../../etc/passwd":                "passwd",
		`..\..\windows\win.ini`:           "win.ini",
		"/abs/path/to/dog.png":            "dog.png",
		"..":                              "upload",
		"":                                "upload",
		"dir/":                            "dir",
		"bad\x00name\n.gif":               "badname.gif",
		"  spaced.png ":                   "spaced.png",
		"invalid-\xff-utf8.png":           "invalid--utf8.png",
		strings.Repeat("é", 200):          strings.Repeat("é", 127),
		"photos/2024/summer/sea.jpg":      "sea.jpg",
		"invoice\u202egpj.exe":            "invoicegpj.exe", // right-to-left override
		"a\u2066b\u2069\u200bc\ufeff.png": "abc.png",        // isolates, zero width space, BOM
		"\u202e":                          "upload",
	}
	for in, want := range cases {
		if got := photos.SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListValidation(t *testing.T) {
	f := newFixture(t, 1<<20)
	for _, limit := range []int{-1, 0, photos.MaxListLimit + 1} {
		if _, _, err := f.svc.List(ctx, limit, ""); !errors.Is(err, photos.ErrInvalidArgument) {
			t.Errorf("limit %d: err = %v", limit, err)
		}
	}
	if _, _, err := f.svc.List(ctx, 10, "garbage"); !errors.Is(err, photos.ErrInvalidArgument) {
		t.Errorf("bad cursor: err = %v", err)
	}
	for i := range 3 {
		if _, _, err := f.svc.Upload(ctx, "p.png", bytes.NewReader(imagetest.PNG(4, 4, uint8(i)))); err != nil {
			t.Fatal(err)
		}
	}
	page, next, err := f.svc.List(ctx, 2, "")
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("first page: %d photos, next=%q, err=%v", len(page), next, err)
	}
	page, next, err = f.svc.List(ctx, 2, next)
	if err != nil || len(page) != 1 || next != "" {
		t.Fatalf("second page: %d photos, next=%q, err=%v", len(page), next, err)
	}
}

func TestThumbnailGeneratesAndCaches(t *testing.T) {
	f := newFixture(t, 1<<20)
	p, _, err := f.svc.Upload(ctx, "big.png", bytes.NewReader(imagetest.PNG(400, 300, 1)))
	if err != nil {
		t.Fatal(err)
	}
	th, err := f.svc.Thumbnail(ctx, p.ID, photos.DefaultThumbnailSize)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(th.JPEG))
	if err != nil {
		t.Fatalf("thumbnail is not JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 192 || th.Width != 256 || th.Height != 192 {
		t.Fatalf("default thumbnail %v (reported %dx%d), want 256x192", b, th.Width, th.Height)
	}

	// Remove the original behind the service's back: a cached thumbnail is
	// still served, an uncached size can no longer be rendered.
	if err := os.Remove(filepath.Join(f.dir, "originals", p.ID)); err != nil {
		t.Fatal(err)
	}
	cached, err := f.svc.Thumbnail(ctx, p.ID, 256)
	if err != nil || !bytes.Equal(cached.JPEG, th.JPEG) {
		t.Fatalf("second request was not served from cache: err=%v", err)
	}
	if _, err := f.svc.Thumbnail(ctx, p.ID, 100); err == nil {
		t.Fatal("uncached size rendered without an original")
	}
}

func TestThumbnailValidation(t *testing.T) {
	f := newFixture(t, 1<<20)
	p, _, err := f.svc.Upload(ctx, "s.gif", bytes.NewReader(imagetest.GIF(20, 10, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{-5, 0, 15, 2049} {
		if _, err := f.svc.Thumbnail(ctx, p.ID, size); !errors.Is(err, photos.ErrInvalidArgument) {
			t.Errorf("size %d: err = %v", size, err)
		}
	}
	// 16 is served by the first ladder step, 64, which the 20×10 fits.
	small, err := f.svc.Thumbnail(ctx, p.ID, 16)
	if err != nil || small.Width != 20 || small.Height != 10 {
		t.Fatalf("size 16: %dx%d err=%v", small.Width, small.Height, err)
	}
	big, err := f.svc.Thumbnail(ctx, p.ID, 2048)
	if err != nil || big.Width != 20 || big.Height != 10 {
		t.Fatalf("no upscaling expected: %dx%d err=%v", big.Width, big.Height, err)
	}
	if _, err := f.svc.Thumbnail(ctx, strings.Repeat("0", 26), 64); !errors.Is(err, photos.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestDeletePublishesAndForgets(t *testing.T) {
	f := newFixture(t, 1<<20)
	p, _, err := f.svc.Upload(ctx, "d.png", bytes.NewReader(imagetest.PNG(5, 5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, p.ID); !errors.Is(err, photos.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if err := f.svc.Delete(ctx, p.ID); !errors.Is(err, photos.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	del, ok := f.events[len(f.events)-1].(*photov1.PhotoDeleted)
	if !ok || del.GetId() != p.ID || del.GetDeletedAt() == nil {
		t.Fatalf("last event = %v", f.events[len(f.events)-1])
	}
	if len(f.events) != 2 {
		t.Fatalf("events = %d, want upload + delete", len(f.events))
	}
}

func TestToProto(t *testing.T) {
	f := newFixture(t, 1<<20)
	p, _, err := f.svc.Upload(ctx, "x.png", bytes.NewReader(imagetest.PNG(3, 2, 1)))
	if err != nil {
		t.Fatal(err)
	}
	pb := photos.ToProto(p)
	if pb.GetId() != p.ID || pb.GetFilename() != "x.png" || pb.GetSizeBytes() != p.Size || pb.GetSha256() != p.SHA256 ||
		pb.GetWidth() != 3 || pb.GetHeight() != 2 || !pb.GetCreatedAt().AsTime().Equal(p.CreatedAt) {
		t.Fatalf("ToProto(%+v) = %v", p, pb)
	}
}
