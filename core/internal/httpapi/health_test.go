package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

type fakeReady bool

func (f fakeReady) Ready(context.Context) error {
	if f {
		return nil
	}
	return errors.New("postgres unavailable: connection refused")
}

func get(t *testing.T, h http.Handler, path string) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type = %q", path, ct)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: body is not a JSON object of strings: %v", path, err)
	}
	return rec.Code, body
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestProbes(t *testing.T) {
	up := New(Options{Ready: fakeReady(true), Backend: "stack", Logger: discardLogger()})
	down := New(Options{Ready: fakeReady(false), Backend: "stack", Logger: discardLogger()})

	if code, body := get(t, up, "/healthz"); code != 200 || body["status"] != "ok" || body["backend"] != "stack" {
		t.Fatalf("/healthz = %d %v", code, body)
	}
	if code, _ := get(t, down, "/healthz"); code != 200 {
		t.Fatalf("/healthz must not depend on the store, got %d", code)
	}
	if code, _ := get(t, up, "/readyz"); code != 200 {
		t.Fatalf("/readyz when ready = %d", code)
	}
	if code, body := get(t, down, "/readyz"); code != 503 || body["error"] != "postgres unavailable: connection refused" {
		t.Fatalf("/readyz when not ready = %d %v, want 503 naming the server", code, body)
	}
}

func TestVersion(t *testing.T) {
	h := New(Options{Ready: fakeReady(true), Logger: discardLogger()})
	code, body := get(t, h, "/version")
	if code != 200 {
		t.Fatalf("/version = %d", code)
	}
	for _, key := range []string{"version", "commit", "build_time"} {
		if _, ok := body[key]; !ok {
			t.Fatalf("/version lacks %q: %v", key, body)
		}
	}
	if body["version"] != "dev" {
		t.Fatalf("version = %q, want default dev", body["version"])
	}
}
