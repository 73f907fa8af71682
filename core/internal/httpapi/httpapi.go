// Package httpapi serves the JSON HTTP API: the photo routes under
// /api/photos, the probes (/healthz, /readyz) and /version.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pixie-photos/pixie/core/internal/apitoken"
	"github.com/pixie-photos/pixie/core/internal/buildinfo"
	"github.com/pixie-photos/pixie/core/internal/photos"
)

// Readiness reports whether the backend can serve requests.
type Readiness interface {
	// Ready returns nil when it can, else an error that names what is
	// unavailable (never a secret).
	Ready(ctx context.Context) error
}

// ReadyDetailer is a Readiness with more to say on /readyz, such as how
// events are flowing; each entry is a field of the answer.
type ReadyDetailer interface {
	ReadyDetails(ctx context.Context) map[string]string
}

// readyTimeout bounds the checks behind /readyz.
const readyTimeout = 2 * time.Second

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 for a
// backing server that is down.
const unavailableRetryAfter = "2"

// Options wires the handler to its dependencies.
type Options struct {
	Photos *photos.Service
	Ready  Readiness
	// Backend names the storage backend on /healthz and /readyz.
	Backend string
	Logger  *slog.Logger
	// Token, when enabled, guards every method other than GET and HEAD.
	Token apitoken.Checker
	// UploadTimeout is the server's ReadTimeout; an upload whose file is
	// in gets that long again to be checked and stored.
	UploadTimeout time.Duration
}

type api struct {
	photos  *photos.Service
	ready   Readiness
	backend string
	logger  *slog.Logger
	token   apitoken.Checker

	uploadTimeout time.Duration
}

// New returns the HTTP handler for all routes.
func New(opts Options) http.Handler {
	a := &api{photos: opts.Photos, ready: opts.Ready, backend: opts.Backend, logger: opts.Logger, token: opts.Token, uploadTimeout: opts.UploadTimeout}
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
	return a.logRequests(secureHeaders(jsonErrors(a.requireToken(mux))))
}

// requireToken answers 401 to writes without the API token. Reads, and so
// the probes, stay open. A request with more than one Authorization header
// is refused whatever it is: which one counts is not for us to guess.
func (a *api) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.Header.Values("Authorization")); n > 1 {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("the request has %d Authorization headers; send one", n)})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !a.token.Allows(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pixie"`)
			writeJSON(w, http.StatusUnauthorized, errorJSON{Error: "this request needs the API token: send Authorization: Bearer <PIXIE_API_TOKEN>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonErrors turns the plain-text errors that net/http writes itself (404
// and 405 from the router, 416 from range requests) into the API's JSON.
func jsonErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jw := &jsonErrorWriter{ResponseWriter: w}
		next.ServeHTTP(jw, r)
		jw.finish()
	})
}

type jsonErrorWriter struct {
	http.ResponseWriter
	status  int  // 0 until WriteHeader
	rewrite bool // holding back a plain-text error to resend as JSON
	text    []byte
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.rewrite = true
		return // finish sends it
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewrite {
		w.text = append(w.text, p[:min(len(p), 1024-len(w.text))]...)
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *jsonErrorWriter) finish() {
	if !w.rewrite {
		return
	}
	msg := strings.TrimSpace(string(w.text))
	if msg == "" {
		msg = http.StatusText(w.status)
	}
	w.Header().Del("Content-Length")
	writeJSON(w.ResponseWriter, w.status, errorJSON{Error: msg})
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "backend": a.backend})
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	body := map[string]string{"status": "ok", "backend": a.backend}
	if d, ok := a.ready.(ReadyDetailer); ok {
		for k, v := range d.ReadyDetails(ctx) {
			body[k] = v
		}
	}
	if err := a.ready.Ready(ctx); err != nil {
		body["status"], body["error"] = "unavailable", err.Error()
		w.Header().Set("Retry-After", unavailableRetryAfter)
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
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
