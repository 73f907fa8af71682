package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
)

func TestRouterErrorsAreJSON(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	expectError(t, a.get(t, "/no/such/route"), http.StatusNotFound, "not found")
	expectError(t, a.get(t, "/api/photos/x/y/z"), http.StatusNotFound, "not found")
	rec := a.do(t, httptest.NewRequest(http.MethodPut, "/api/photos", nil))
	expectError(t, rec, http.StatusMethodNotAllowed, "Method Not Allowed")
	if allow := rec.Header().Get("Allow"); allow == "" {
		t.Fatal("405 without an Allow header")
	}

	p := decode[photoJSON](t, a.upload(t, "p.png", imagetest.PNG(20, 20, 1)))
	req := httptest.NewRequest(http.MethodGet, "/api/photos/"+p.ID+"/original", nil)
	req.Header.Set("Range", "bytes=100000-")
	expectError(t, a.do(t, req), http.StatusRequestedRangeNotSatisfiable, "range")
}

func TestImageOverTheBudgetIs413(t *testing.T) {
	a := newTestAPI(t, 8<<20)
	// 7000×7000 progressive 4:4:4 needs ~700 MiB, over the default 512 MiB.
	expectError(t, a.upload(t, "big.jpg", imagetest.ProgressiveJPEG(7000, 7000, 1)),
		http.StatusRequestEntityTooLarge, "more than the whole decode budget of 512 MiB (PIXIE_DECODE_MEMORY)")
	expectError(t, a.upload(t, "wide.png", imagetest.ZeroPNG(100_000_000, 1, 8, 0)),
		http.StatusRequestEntityTooLarge, "exceeds 64000000 pixels")
	a.expectNothingStored(t)
}

func TestBusyIs503WithRetryAfter(t *testing.T) {
	ta := newTestAPI(t, 1<<20)
	a := &api{photos: ta.svc, logger: discardLogger()}
	rec := httptest.NewRecorder()
	a.writeServiceError(rec, httptest.NewRequest(http.MethodPost, "/api/photos", nil), fmt.Errorf("%w: full", photos.ErrBusy))
	expectError(t, rec, http.StatusServiceUnavailable, "busy")
	if got := rec.Header().Get("Retry-After"); got != "10" {
		t.Fatalf("Retry-After = %q, want 10 (PIXIE_DECODE_WAIT)", got)
	}
}

func TestThumbnailETagAndNotModified(t *testing.T) {
	a := newTestAPI(t, 1<<20)
	p := decode[photoJSON](t, a.upload(t, "p.png", imagetest.PNG(600, 400, 1)))
	path := "/api/photos/" + p.ID + "/thumbnail?size="
	first := a.get(t, path+"256")
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag != fmt.Sprintf(`"%s-256"`, p.SHA256) {
		t.Fatalf("thumbnail: %d, ETag %q", first.Code, etag)
	}
	if other := a.get(t, path+"200").Header().Get("ETag"); other != etag {
		t.Fatalf("size 200 is the 256 step, so the same ETag; got %q", other)
	}
	if other := a.get(t, path+"300").Header().Get("ETag"); other == etag {
		t.Fatal("size 300 is the 512 step and needs another ETag")
	}
	for _, inm := range []string{etag, `"other", ` + etag, "*"} {
		req := httptest.NewRequest(http.MethodGet, path+"256", nil)
		req.Header.Set("If-None-Match", inm)
		rec := a.do(t, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d, %d bytes, ETag %q; want 304", inm, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
	}
	req := httptest.NewRequest(http.MethodGet, path+"256", nil)
	req.Header.Set("If-None-Match", `"stale"`)
	if rec := a.do(t, req); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
		t.Fatalf("stale ETag: %d, want the thumbnail", rec.Code)
	}
}

func TestTokenGuardsWritesOnly(t *testing.T) {
	const token = "s3cret-token-0123456789"
	a := newTestAPIWith(t, 1<<20, token)
	body, ct := multipartBody(t, "file", "p.png", imagetest.PNG(10, 10, 1))
	upload := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/photos", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", ct)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return a.do(t, req)
	}
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token, token} {
		rec := upload(auth)
		expectError(t, rec, http.StatusUnauthorized, "API token")
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	}
	a.expectNothingStored(t)
	p := decode[photoJSON](t, upload("Bearer "+token))

	for _, path := range []string{"/healthz", "/readyz", "/version", "/api/photos", "/api/photos/" + p.ID, "/api/photos/" + p.ID + "/thumbnail"} {
		if rec := a.get(t, path); rec.Code != http.StatusOK {
			t.Fatalf("GET %s without a token: %d, want 200", path, rec.Code)
		}
	}
	del := httptest.NewRequest(http.MethodDelete, "/api/photos/"+p.ID, nil)
	expectError(t, a.do(t, del), http.StatusUnauthorized, "API token")
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		twice := httptest.NewRequest(method, "/api/photos/"+p.ID, nil)
		twice.Header.Add("Authorization", "Bearer "+token)
		twice.Header.Add("Authorization", "Bearer "+token)
		expectError(t, a.do(t, twice), http.StatusBadRequest, "2 Authorization headers; send one")
	}
	del = httptest.NewRequest(http.MethodDelete, "/api/photos/"+p.ID, nil)
	del.Header.Set("Authorization", "Bearer "+token)
	if rec := a.do(t, del); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE with the token: %d", rec.Code)
	}
}
