package httpapi

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/apitoken"
	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/settings"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

type testAPI struct {
	handler http.Handler
	svc     *photos.Service
	dir     string
}

func newTestAPI(t *testing.T, maxUploadBytes int64) *testAPI {
	t.Helper()
	return newTestAPIWith(t, maxUploadBytes, "")
}

// newTestAPIWith also sets the API token ("" for none).
func newTestAPIWith(t *testing.T, maxUploadBytes int64, token string) *testAPI {
	t.Helper()
	dir := t.TempDir()
	st, err := embedded.Open(dir, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := photos.New(st, &events.Bus{}, photos.Limits{MaxUploadBytes: maxUploadBytes, DecodeMemory: settings.DefaultDecodeMemory, DecodeWait: settings.DefaultDecodeWait})
	return &testAPI{handler: New(Options{Photos: svc, Ready: st, Logger: discardLogger(), Token: apitoken.New(token)}), svc: svc, dir: dir}
}

func (a *testAPI) do(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

func (a *testAPI) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	return a.do(t, httptest.NewRequest(http.MethodGet, path, nil))
}

func multipartBody(t *testing.T, field, filename string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("note", "fields other than file are ignored"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func (a *testAPI) upload(t *testing.T, filename string, data []byte) *httptest.ResponseRecorder {
	t.Helper()
	body, ct := multipartBody(t, "file", filename, data)
	req := httptest.NewRequest(http.MethodPost, "/api/photos", body)
	req.Header.Set("Content-Type", ct)
	return a.do(t, req)
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("response is not the expected JSON: %v: %s", err, rec.Body.String())
	}
	return v
}

// expectError asserts an error status with a JSON {"error": "..."} body
// that mentions want.
func expectError(t *testing.T, rec *httptest.ResponseRecorder, code int, want string) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q", ct)
	}
	e := decode[errorJSON](t, rec)
	if !strings.Contains(e.Error, want) {
		t.Fatalf("error %q does not mention %q", e.Error, want)
	}
}

func (a *testAPI) expectNothingStored(t *testing.T) {
	t.Helper()
	if l := decode[listJSON](t, a.get(t, "/api/photos")); len(l.Photos) != 0 {
		t.Fatalf("%d photos listed, want none", len(l.Photos))
	}
	if entries, _ := os.ReadDir(filepath.Join(a.dir, "originals")); len(entries) != 0 {
		t.Fatalf("originals on disk: %v", entries)
	}
}

func TestUploadGetOriginalDelete(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	data := imagetest.JPEG(120, 80, 1)

	rec := a.upload(t, "holiday.jpg", data)
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload status %d: %s", rec.Code, rec.Body.String())
	}
	p := decode[photoJSON](t, rec)
	if rec.Header().Get("Location") != "/api/photos/"+p.ID {
		t.Fatalf("Location = %q", rec.Header().Get("Location"))
	}
	if p.Filename != "holiday.jpg" || p.ContentType != "image/jpeg" || p.Width != 120 || p.Height != 80 ||
		p.Size != int64(len(data)) || len(p.SHA256) != 64 || p.CreatedAt.IsZero() {
		t.Fatalf("uploaded photo = %+v", p)
	}

	again := a.upload(t, "copy.jpg", data)
	if again.Code != http.StatusOK || decode[photoJSON](t, again).ID != p.ID {
		t.Fatalf("duplicate upload: %d %s", again.Code, again.Body.String())
	}

	got := a.get(t, "/api/photos/"+p.ID)
	if got.Code != http.StatusOK || decode[photoJSON](t, got) != p {
		t.Fatalf("get: %d %s", got.Code, got.Body.String())
	}

	orig := a.get(t, "/api/photos/"+p.ID+"/original")
	if orig.Code != http.StatusOK || !bytes.Equal(orig.Body.Bytes(), data) {
		t.Fatalf("original: status %d, %d bytes", orig.Code, orig.Body.Len())
	}
	if orig.Header().Get("Content-Type") != "image/jpeg" || orig.Header().Get("ETag") != `"`+p.SHA256+`"` {
		t.Fatalf("original headers: %v", orig.Header())
	}
	rangeReq := httptest.NewRequest(http.MethodGet, "/api/photos/"+p.ID+"/original", nil)
	rangeReq.Header.Set("Range", "bytes=0-9")
	if rr := a.do(t, rangeReq); rr.Code != http.StatusPartialContent || !bytes.Equal(rr.Body.Bytes(), data[:10]) {
		t.Fatalf("range request: %d, %d bytes", rr.Code, rr.Body.Len())
	}

	del := a.do(t, httptest.NewRequest(http.MethodDelete, "/api/photos/"+p.ID, nil))
	if del.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", del.Code, del.Body.String())
	}
	expectError(t, a.get(t, "/api/photos/"+p.ID), http.StatusNotFound, "not found")
	a.expectNothingStored(t)
}

func TestUploadEveryFormatDetectedFromBytes(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	for want, data := range map[string][]byte{
		"image/jpeg": imagetest.JPEG(9, 9, 1),
		"image/png":  imagetest.PNG(9, 9, 1),
		"image/gif":  imagetest.GIF(9, 9, 1),
		"image/webp": imagetest.WebP,
	} {
		rec := a.upload(t, "named-wrong.bmp", data)
		if rec.Code != http.StatusCreated {
			t.Fatalf("%s: status %d: %s", want, rec.Code, rec.Body.String())
		}
		if got := decode[photoJSON](t, rec).ContentType; got != want {
			t.Fatalf("content type %q, want %q", got, want)
		}
	}
}

func TestUploadPathTraversalFilename(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	rec := a.upload(t, "../../../etc/evil.png", imagetest.PNG(5, 5, 1))
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	p := decode[photoJSON](t, rec)
	if p.Filename != "evil.png" || strings.Contains(p.ID, "evil") {
		t.Fatalf("photo = %+v; want base-name filename and an unrelated ID", p)
	}
	entries, err := os.ReadDir(filepath.Join(a.dir, "originals"))
	if err != nil || len(entries) != 1 || entries[0].Name() != p.ID {
		t.Fatalf("stored files = %v, want only %s", entries, p.ID)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "..", "etc")); err == nil {
		t.Fatal("a file escaped the data dir")
	}
}

func TestUploadUnsupportedType(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	expectError(t, a.upload(t, "photo.jpg", []byte("plain text pretending to be a jpeg")), http.StatusUnsupportedMediaType, "unsupported")
	a.expectNothingStored(t)
}

func TestUploadNotMultipart(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	req := httptest.NewRequest(http.MethodPost, "/api/photos", bytes.NewReader(imagetest.PNG(4, 4, 1)))
	req.Header.Set("Content-Type", "image/png")
	expectError(t, a.do(t, req), http.StatusUnsupportedMediaType, "multipart/form-data")
	a.expectNothingStored(t)
}

func TestUploadMissingFileField(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	body, ct := multipartBody(t, "picture", "x.png", imagetest.PNG(4, 4, 1))
	req := httptest.NewRequest(http.MethodPost, "/api/photos", body)
	req.Header.Set("Content-Type", ct)
	expectError(t, a.do(t, req), http.StatusBadRequest, `"file"`)
	a.expectNothingStored(t)
}

func TestUploadMalformedMultipart(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	req := httptest.NewRequest(http.MethodPost, "/api/photos", strings.NewReader("--b\r\nno closing boundary"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	expectError(t, a.do(t, req), http.StatusBadRequest, "multipart")
	a.expectNothingStored(t)
}

func TestUploadTruncatedAndCorruptImages(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	png := imagetest.PNG(64, 64, 9)
	jpg := imagetest.JPEG(64, 64, 9)
	expectError(t, a.upload(t, "cut.png", png[:len(png)-20]), http.StatusBadRequest, "invalid image")
	expectError(t, a.upload(t, "cut.jpg", jpg[:len(jpg)/2]), http.StatusBadRequest, "invalid image")
	corrupt := bytes.Clone(png)
	copy(corrupt[40:], bytes.Repeat([]byte{0xAB}, 32))
	expectError(t, a.upload(t, "bad.png", corrupt), http.StatusBadRequest, "invalid image")
	a.expectNothingStored(t)
}

// countingReader records how much of a request body the server consumed.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestUploadTooLargeByContentLengthIsRejectedUnread(t *testing.T) {
	a := newTestAPI(t, 1024)
	body := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	req := httptest.NewRequest(http.MethodPost, "/api/photos", body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	req.ContentLength = 1 << 20
	expectError(t, a.do(t, req), http.StatusRequestEntityTooLarge, "limit")
	if body.n != 0 {
		t.Fatalf("server read %d bytes of an oversize body, want 0", body.n)
	}
}

func TestUploadTooLargeWithoutContentLength(t *testing.T) {
	a := newTestAPI(t, 1024)
	data := bytes.Repeat([]byte{0xFF}, 4<<20)
	full, ct := multipartBody(t, "file", "big.jpg", data)
	body := &countingReader{r: full}
	req := httptest.NewRequest(http.MethodPost, "/api/photos", body)
	req.Header.Set("Content-Type", ct)
	req.ContentLength = -1 // chunked: the size is only known by reading
	expectError(t, a.do(t, req), http.StatusRequestEntityTooLarge, "limit")
	if body.n > 1024+multipartOverhead+64<<10 {
		t.Fatalf("server read %d bytes; MaxBytesReader should stop it near the limit", body.n)
	}
	a.expectNothingStored(t)
}

func TestUploadFileOverLimitWithinMultipartSlack(t *testing.T) {
	a := newTestAPI(t, 1024)
	expectError(t, a.upload(t, "big.jpg", imagetest.JPEG(200, 200, 1)), http.StatusRequestEntityTooLarge, "1024 bytes")
	a.expectNothingStored(t)
}

func TestUnknownAndMalformedIDs(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	for _, id := range []string{strings.Repeat("0", 26), "nope", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"} {
		base := "/api/photos/" + id
		expectError(t, a.get(t, base), http.StatusNotFound, "not found")
		expectError(t, a.get(t, base+"/original"), http.StatusNotFound, "not found")
		expectError(t, a.get(t, base+"/thumbnail"), http.StatusNotFound, "not found")
		expectError(t, a.do(t, httptest.NewRequest(http.MethodDelete, base, nil)), http.StatusNotFound, "not found")
	}
}

func TestListPaginationAndBadQueries(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	for i := range 5 {
		if rec := a.upload(t, "p.png", imagetest.PNG(4, 4, uint8(i))); rec.Code != http.StatusCreated {
			t.Fatalf("upload %d: %d", i, rec.Code)
		}
	}
	var ids []string
	path := "/api/photos?limit=2"
	for range 5 {
		rec := a.get(t, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
		}
		l := decode[listJSON](t, rec)
		for _, p := range l.Photos {
			ids = append(ids, p.ID)
		}
		if l.NextCursor == "" {
			break
		}
		path = "/api/photos?limit=2&cursor=" + l.NextCursor
	}
	if len(ids) != 5 {
		t.Fatalf("paged through %d photos, want 5", len(ids))
	}
	if l := decode[listJSON](t, a.get(t, "/api/photos")); len(l.Photos) != 5 || l.NextCursor != "" {
		t.Fatalf("default list: %d photos, next %q", len(l.Photos), l.NextCursor)
	}

	for _, q := range []string{"limit=0", "limit=-3", "limit=1001", "limit=ten", "limit=", "limit=1.5"} {
		expectError(t, a.get(t, "/api/photos?"+q), http.StatusBadRequest, "limit")
	}
	expectError(t, a.get(t, "/api/photos?cursor=not-a-cursor"), http.StatusBadRequest, "cursor")
}

func TestThumbnail(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	p := decode[photoJSON](t, a.upload(t, "wide.png", imagetest.PNG(600, 300, 1)))

	rec := a.get(t, "/api/photos/"+p.ID+"/thumbnail")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %v", rec.Code, rec.Header())
	}
	img, err := jpeg.Decode(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 128 {
		t.Fatalf("default thumbnail is %v, want 256x128", b)
	}

	// Every size from 16 to 64 is the 64 step: one rendering, one file.
	small := a.get(t, "/api/photos/"+p.ID+"/thumbnail?size=16")
	img, err = jpeg.Decode(bytes.NewReader(small.Body.Bytes()))
	if err != nil || img.Bounds().Dx() != 64 || img.Bounds().Dy() != 32 {
		t.Fatalf("size=16 thumbnail: %v %v", err, img)
	}
	cached, err := os.ReadFile(filepath.Join(a.dir, "thumbnails", p.ID, "64.jpg"))
	if err != nil || !bytes.Equal(cached, small.Body.Bytes()) {
		t.Fatalf("thumbnail not cached on disk: %v", err)
	}
	for size := 16; size <= photos.MaxThumbnailSize; size += 37 {
		if rec := a.get(t, "/api/photos/"+p.ID+"/thumbnail?size="+strconv.Itoa(size)); rec.Code != http.StatusOK {
			t.Fatalf("size=%d: %d", size, rec.Code)
		}
	}
	entries, err := os.ReadDir(filepath.Join(a.dir, "thumbnails", p.ID))
	if err != nil || len(entries) > len(store.ThumbnailLadder) {
		t.Fatalf("%d cached files after every size (err %v), want at most %d", len(entries), err, len(store.ThumbnailLadder))
	}

	for _, q := range []string{"size=15", "size=2049", "size=0", "size=-1", "size=big", "size="} {
		expectError(t, a.get(t, "/api/photos/"+p.ID+"/thumbnail?"+q), http.StatusBadRequest, "size")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	if rec := a.do(t, httptest.NewRequest(http.MethodPut, "/api/photos", nil)); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /api/photos = %d, want 405", rec.Code)
	}
}
