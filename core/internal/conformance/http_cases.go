package conformance

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"net/http"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
)

var _ = register("probes", func(t *testing.T, tg *Target) {
	for _, path := range []string{"/healthz", "/readyz"} {
		r := tg.Get(path, nil)
		var body map[string]string
		r.JSON(t, &body)
		if r.Status != http.StatusOK || body["status"] != "ok" || body["backend"] != tg.Backend.Name {
			t.Fatalf("%s = %d %v, want ok from backend %s", path, r.Status, body, tg.Backend.Name)
		}
	}
	var version map[string]string
	tg.Get("/version", nil).JSON(t, &version)
	if version["version"] == "" {
		t.Fatalf("/version = %v", version)
	}
})

var _ = register("http upload, get, original with ranges and ETags", func(t *testing.T, tg *Target) {
	data := UniqueJPEG(120, 80)
	r := tg.Upload("holiday.jpg", data)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var p apitest.Photo
	r.JSON(t, &p)
	if r.Header.Get("Location") != "/api/photos/"+p.ID {
		t.Fatalf("Location = %q", r.Header.Get("Location"))
	}
	if p.Filename != "holiday.jpg" || p.ContentType != "image/jpeg" || p.Width != 120 || p.Height != 80 ||
		p.Size != int64(len(data)) || p.SHA256 != SHA256(data) || p.CreatedAt.IsZero() {
		t.Fatalf("photo = %+v", p)
	}
	var got apitest.Photo
	tg.Get("/api/photos/"+p.ID, nil).JSON(t, &got)
	if got != p {
		t.Fatalf("get = %+v, want %+v", got, p)
	}

	orig := tg.Get("/api/photos/"+p.ID+"/original", nil)
	if orig.Status != http.StatusOK || !bytes.Equal(orig.Body, data) {
		t.Fatalf("original: %d, %d bytes", orig.Status, len(orig.Body))
	}
	if orig.Header.Get("Content-Type") != "image/jpeg" || orig.Header.Get("ETag") != `"`+p.SHA256+`"` ||
		!strings.Contains(orig.Header.Get("Content-Disposition"), `filename=holiday.jpg`) {
		t.Fatalf("original headers: %v", orig.Header)
	}
	part := tg.Get("/api/photos/"+p.ID+"/original", http.Header{"Range": {"bytes=10-19"}})
	if part.Status != http.StatusPartialContent || !bytes.Equal(part.Body, data[10:20]) ||
		part.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(data)) {
		t.Fatalf("range: %d %q %q", part.Status, part.Body, part.Header.Get("Content-Range"))
	}
	suffix := tg.Get("/api/photos/"+p.ID+"/original", http.Header{"Range": {"bytes=-5"}})
	if suffix.Status != http.StatusPartialContent || !bytes.Equal(suffix.Body, data[len(data)-5:]) {
		t.Fatalf("suffix range: %d %q", suffix.Status, suffix.Body)
	}
	expectError(t, tg.Get("/api/photos/"+p.ID+"/original", http.Header{"Range": {fmt.Sprintf("bytes=%d-", len(data)+10)}}),
		http.StatusRequestedRangeNotSatisfiable, "")
	if r := tg.Get("/api/photos/"+p.ID+"/original", http.Header{"If-None-Match": {`"` + p.SHA256 + `"`}}); r.Status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.Status)
	}
})

var _ = register("http dedupe", func(t *testing.T, tg *Target) {
	data := UniqueJPEG(40, 30)
	first := tg.upload(t, "a.jpg", data)
	r := tg.Upload("b.jpg", data)
	var again apitest.Photo
	r.JSON(t, &again)
	if r.Status != http.StatusOK || again != first {
		t.Fatalf("same bytes again: %d %+v, want 200 with %+v", r.Status, again, first)
	}
})

var _ = register("http thumbnails: ladder, ETag, 304", func(t *testing.T, tg *Target) {
	p := tg.upload(t, "wide.jpg", UniqueJPEG(600, 400))
	for _, c := range []struct{ size, step, w, h int }{{100, 128, 128, 85}, {256, 256, 256, 171}, {16, 64, 64, 43}, {2048, 2048, 600, 400}} {
		r := tg.Get(fmt.Sprintf("/api/photos/%s/thumbnail?size=%d", p.ID, c.size), nil)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("size %d: %d %s", c.size, r.Status, r.Body)
		}
		img, err := jpeg.Decode(bytes.NewReader(r.Body))
		if err != nil || img.Bounds().Dx() != c.w || img.Bounds().Dy() != c.h {
			t.Fatalf("size %d: %v %v, want %dx%d", c.size, err, img.Bounds(), c.w, c.h)
		}
		etag := fmt.Sprintf(`"%s-%d"`, p.SHA256, c.step)
		if r.Header.Get("ETag") != etag {
			t.Fatalf("size %d: ETag %q, want %q", c.size, r.Header.Get("ETag"), etag)
		}
		// Cached now: the same bytes again, and 304 on revalidation.
		if again := tg.Get(fmt.Sprintf("/api/photos/%s/thumbnail?size=%d", p.ID, c.size), nil); !bytes.Equal(again.Body, r.Body) {
			t.Fatalf("size %d: second answer differs", c.size)
		}
		if nm := tg.Get(fmt.Sprintf("/api/photos/%s/thumbnail?size=%d", p.ID, c.size), http.Header{"If-None-Match": {etag}}); nm.Status != http.StatusNotModified {
			t.Fatalf("size %d: If-None-Match gave %d", c.size, nm.Status)
		}
	}
	def := tg.Get("/api/photos/"+p.ID+"/thumbnail", nil)
	if def.Header.Get("ETag") != fmt.Sprintf(`"%s-%d"`, p.SHA256, photos.DefaultThumbnailSize) {
		t.Fatalf("default size ETag %q", def.Header.Get("ETag"))
	}
	for _, bad := range []string{"15", "2049", "big"} {
		expectError(t, tg.Get("/api/photos/"+p.ID+"/thumbnail?size="+bad, nil), http.StatusBadRequest, "size")
	}
})

var _ = register("http list pages newest first", func(t *testing.T, tg *Target) {
	var ids []string
	for range 5 {
		ids = append(ids, tg.upload(t, "p.jpg", UniqueJPEG(20, 20)).ID)
	}
	var seen []apitest.Photo
	cursor := ""
	for range 10 {
		var page struct {
			Photos     []apitest.Photo `json:"photos"`
			NextCursor string          `json:"next_cursor"`
		}
		tg.Get("/api/photos?limit=2&cursor="+cursor, nil).JSON(t, &page)
		if len(page.Photos) > 2 {
			t.Fatalf("page of %d", len(page.Photos))
		}
		seen = append(seen, page.Photos...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1].ID <= seen[i].ID || !seen[i-1].CreatedAt.After(seen[i].CreatedAt) {
			t.Fatalf("position %d: %s (%v) before %s (%v)", i, seen[i-1].ID, seen[i-1].CreatedAt, seen[i].ID, seen[i].CreatedAt)
		}
	}
	for i, id := range ids { // the newest five, newest first
		if seen[len(ids)-1-i].ID != id {
			t.Fatalf("listed %v, want the last uploads %v first", seen[:len(ids)], ids)
		}
	}
	expectError(t, tg.Get("/api/photos?cursor=nope", nil), http.StatusBadRequest, "cursor")
	expectError(t, tg.Get("/api/photos?limit=0", nil), http.StatusBadRequest, "limit")
	expectError(t, tg.Get("/api/photos?limit=1001", nil), http.StatusBadRequest, "limit")
})

var _ = register("http delete", func(t *testing.T, tg *Target) {
	p := tg.upload(t, "bye.jpg", UniqueJPEG(64, 48))
	tg.Get("/api/photos/"+p.ID+"/thumbnail?size=64", nil)
	if r := tg.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"", "/original", "/thumbnail?size=64"} {
		expectError(t, tg.Get("/api/photos/"+p.ID+path, nil), http.StatusNotFound, "not found")
	}
	expectError(t, tg.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, nil), http.StatusNotFound, "not found")
})

var _ = register("http errors are JSON", func(t *testing.T, tg *Target) {
	expectError(t, tg.Get("/nope", nil), http.StatusNotFound, "")
	expectError(t, tg.Do(http.MethodPut, "/api/photos", nil, nil), http.StatusMethodNotAllowed, "")
	expectError(t, tg.Get("/api/photos/not-an-id", nil), http.StatusNotFound, "malformed")
	expectError(t, tg.Get("/api/photos/"+strings.Repeat("0", 26), nil), http.StatusNotFound, "not found")
	expectError(t, tg.Upload("notes.txt", []byte("plain text, not an image")), http.StatusUnsupportedMediaType, "unsupported")
	png := imagetest.PNG(50, 50, 1)
	expectError(t, tg.Upload("cut.png", png[:len(png)-20]), http.StatusBadRequest, "invalid image")
	expectError(t, tg.Upload("huge.jpg", bytes.Repeat([]byte{0xff}, MaxUploadBytes+1)), http.StatusRequestEntityTooLarge, "limit")
	expectError(t, tg.Upload("bomb.png", imagetest.ZeroPNG(100_000_000, 1, 8, 0)), http.StatusRequestEntityTooLarge, "")
	expectError(t, tg.Do(http.MethodPost, "/api/photos", strings.NewReader("x"), http.Header{"Content-Type": {"text/plain"}}),
		http.StatusUnsupportedMediaType, "multipart")
})

var _ = register("http writes need the token", func(t *testing.T, tg *Target) {
	p := tg.upload(t, "t.jpg", UniqueJPEG(30, 30))
	wrong := http.Header{"Authorization": {"Bearer not-the-token-at-all"}}
	r := tg.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, wrong)
	expectError(t, r, http.StatusUnauthorized, "token")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	if r := tg.Get("/api/photos/"+p.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("reads stay open: %d", r.Status)
	}
})

var _ = register("filenames are display-only", func(t *testing.T, tg *Target) {
	name := "../../etc/\u202egpj.exe"
	p := tg.upload(t, name, UniqueJPEG(10, 10))
	if p.Filename != photos.SanitizeFilename(name) || strings.ContainsAny(p.Filename, "/\u202e") {
		t.Fatalf("filename %q", p.Filename)
	}
})
