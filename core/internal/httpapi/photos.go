package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// multipartOverhead is allowed on top of the file size for the multipart
// framing (boundaries, part headers, small extra fields).
const multipartOverhead = 64 << 10

// Originals and thumbnails never change for a given ID.
const immutableCache = "private, max-age=31536000, immutable"

type photoJSON struct {
	ID          string    `json:"id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	CreatedAt   time.Time `json:"created_at"`
}

func toJSON(p store.Photo) photoJSON {
	return photoJSON(p)
}

type listJSON struct {
	Photos     []photoJSON `json:"photos"`
	NextCursor string      `json:"next_cursor"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func (a *api) upload(w http.ResponseWriter, r *http.Request) {
	limit := a.photos.MaxUploadBytes() + multipartOverhead
	// Refuse a declared oversize body before reading any of it.
	if r.ContentLength > limit {
		a.writeError(w, r, http.StatusRequestEntityTooLarge, "upload exceeds the limit of "+strconv.FormatInt(a.photos.MaxUploadBytes(), 10)+" bytes")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)

	mr, err := r.MultipartReader()
	if errors.Is(err, http.ErrNotMultipart) {
		a.writeError(w, r, http.StatusUnsupportedMediaType, "request must be multipart/form-data with the photo in field \"file\"")
		return
	}
	if err != nil {
		a.writeError(w, r, http.StatusBadRequest, "malformed multipart request: "+err.Error())
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			a.writeError(w, r, http.StatusBadRequest, "multipart field \"file\" is missing")
			return
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) || errors.Is(err, os.ErrDeadlineExceeded) {
				a.writeServiceError(w, r, err)
				return
			}
			a.writeError(w, r, http.StatusBadRequest, "malformed multipart body: "+err.Error())
			return
		}
		if part.FormName() != "file" {
			continue // NextPart discards the unread rest of this part
		}
		p, created, err := a.photos.Upload(r.Context(), part.FileName(), &bodyDoneReader{part, w, a.uploadTimeout})
		if err != nil {
			a.writeServiceError(w, r, err)
			return
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
			w.Header().Set("Location", "/api/photos/"+p.ID)
		}
		writeJSON(w, code, toJSON(p))
		return
	}
}

// bodyDoneReader restarts the connection's read deadline once the file is
// in. The server's ReadTimeout (PIXIE_UPLOAD_TIMEOUT) cuts off trickled
// uploads, but it also bounds the rest of the request, so without this an
// upload that arrived just in time would be cancelled while it is decoded.
type bodyDoneReader struct {
	io.Reader
	w     http.ResponseWriter
	grace time.Duration
}

func (r *bodyDoneReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err == io.EOF {
		_ = http.NewResponseController(r.w).SetReadDeadline(time.Now().Add(r.grace)) // unsupported only without a server
	}
	return n, err
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := photos.DefaultListLimit
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil {
			a.writeError(w, r, http.StatusBadRequest, "limit must be an integer between 1 and "+strconv.Itoa(photos.MaxListLimit))
			return
		}
		limit = n // the service checks the range
	}
	page, next, err := a.photos.List(r.Context(), limit, q.Get("cursor"))
	if err != nil {
		a.writeServiceError(w, r, err)
		return
	}
	out := listJSON{Photos: make([]photoJSON, 0, len(page)), NextCursor: next}
	for _, p := range page {
		out.Photos = append(out.Photos, toJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	p, err := a.photos.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeServiceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(p))
}

func (a *api) original(w http.ResponseWriter, r *http.Request) {
	f, p, err := a.photos.OpenOriginal(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeServiceError(w, r, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", p.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": p.Filename}))
	h.Set("ETag", `"`+p.SHA256+`"`)
	h.Set("Cache-Control", immutableCache)
	// ServeContent handles Range and conditional requests.
	http.ServeContent(w, r, "", p.CreatedAt, f)
}

func (a *api) thumbnail(w http.ResponseWriter, r *http.Request) {
	size := photos.DefaultThumbnailSize
	if q := r.URL.Query(); q.Has("size") {
		n, err := strconv.Atoi(q.Get("size"))
		if err != nil {
			a.writeError(w, r, http.StatusBadRequest, "size must be an integer between "+
				strconv.Itoa(photos.MinThumbnailSize)+" and "+strconv.Itoa(photos.MaxThumbnailSize))
			return
		}
		size = n // the service checks the range
	}
	p, err := a.photos.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeServiceError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", immutableCache)
	if etag, ok := photos.ThumbnailETag(p, size); ok {
		h.Set("ETag", etag)
		// The ETag follows from metadata, so a revalidation costs no render.
		if inm := r.Header.Get("If-None-Match"); inm == "*" || strings.Contains(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	th, err := a.photos.Thumbnail(r.Context(), p.ID, size)
	if err != nil {
		h.Del("ETag")
		h.Del("Cache-Control")
		a.writeServiceError(w, r, err)
		return
	}
	h.Set("Content-Type", "image/jpeg")
	// ServeContent handles Range (and conditional requests again).
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(th.JPEG))
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.photos.Delete(r.Context(), r.PathValue("id")); err != nil {
		a.writeServiceError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if code >= 500 {
		a.logger.ErrorContext(r.Context(), "request failed", slog.String("path", r.URL.Path), slog.String("error", msg))
	}
	writeJSON(w, code, errorJSON{Error: msg})
}

// writeServiceError maps the photos package's errors to HTTP statuses.
func (a *api) writeServiceError(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, photos.ErrTooLarge):
		a.writeError(w, r, http.StatusRequestEntityTooLarge, "upload exceeds the limit of "+strconv.FormatInt(a.photos.MaxUploadBytes(), 10)+" bytes")
	case errors.Is(err, os.ErrDeadlineExceeded):
		a.writeError(w, r, http.StatusRequestTimeout, "upload not received in time (PIXIE_UPLOAD_TIMEOUT); send it faster or raise the limit")
	case errors.Is(err, photos.ErrImageTooLarge):
		a.writeError(w, r, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, photos.ErrBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(a.photos.RetryAfter().Seconds())))
		a.writeError(w, r, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, photos.ErrNotFound):
		a.writeError(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, photos.ErrUnsupportedType):
		a.writeError(w, r, http.StatusUnsupportedMediaType, err.Error())
	case errors.Is(err, photos.ErrInvalidArgument), errors.Is(err, photos.ErrInvalidImage), errors.Is(err, photos.ErrIncompleteUpload):
		a.writeError(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, photos.ErrUnavailable):
		w.Header().Set("Retry-After", unavailableRetryAfter)
		a.writeError(w, r, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled):
		// The client left; nobody reads the answer.
		a.writeError(w, r, http.StatusServiceUnavailable, "request canceled")
	default:
		a.logger.ErrorContext(r.Context(), "internal error", slog.String("path", r.URL.Path), slog.Any("error", err))
		writeJSON(w, http.StatusInternalServerError, errorJSON{Error: "internal error"})
	}
}
