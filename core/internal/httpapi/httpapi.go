// Package httpapi serves the JSON HTTP API: the photo routes under
// /api/photos, the probes (/healthz, /readyz) and /version.
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/pixie-photos/pixie/core/internal/buildinfo"
	"github.com/pixie-photos/pixie/core/internal/photos"
)

// Readiness reports whether the backing store can serve requests.
type Readiness interface {
	Ready() bool
}

// Options wires the handler to its dependencies.
type Options struct {
	Photos *photos.Service
	Ready  Readiness
	Logger *slog.Logger
}

type api struct {
	photos *photos.Service
	ready  Readiness
	logger *slog.Logger
}

// New returns the HTTP handler for all routes.
func New(opts Options) http.Handler {
	a := &api{photos: opts.Photos, ready: opts.Ready, logger: opts.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /version", a.version)
	mux.HandleFunc("POST /api/photos", a.upload)
	mux.HandleFunc("GET /api/photos", a.list)
	mux.HandleFunc("GET /api/photos/{id}", a.get)
	mux.HandleFunc("GET /api/photos/{id}/original", a.original)
	mux.HandleFunc("GET /api/photos/{id}/thumbnail", a.thumbnail)
	mux.HandleFunc("DELETE /api/photos/{id}", a.delete)
	return a.logRequests(secureHeaders(mux))
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, buildinfo.Get())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing useful to do
}

// secureHeaders stops browsers from second-guessing our content types, which
// matters because originals are user-supplied bytes.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// statusRecorder captures the response code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (a *api) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.logger.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		)
	})
}
