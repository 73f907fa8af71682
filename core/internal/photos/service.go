// Package photos is the application layer shared by the HTTP and gRPC APIs:
// it validates input, checks images, stores them, makes thumbnails and
// publishes events. Its errors wrap the sentinels below so that each API can
// map them to its own status codes.
package photos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/imaging"
	"github.com/pixie-photos/pixie/core/pkg/imaging/budget"
	"github.com/pixie-photos/pixie/core/pkg/store"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// Limits and defaults of the query parameters, shared by both APIs. The
// service itself requires explicit values; each API applies the defaults.
const (
	DefaultListLimit     = 50
	MaxListLimit         = 1000
	DefaultThumbnailSize = 256
	MinThumbnailSize     = 16
	MaxThumbnailSize     = 2048
	maxFilenameBytes     = 255
)

var (
	ErrNotFound = errors.New("photo not found")
	// ErrMalformedID is also an ErrNotFound: no photo can have such an id.
	ErrMalformedID     = fmt.Errorf("%w: the id is malformed (want 26 lowercase base32 characters)", ErrNotFound)
	ErrInvalidArgument = errors.New("invalid argument")
	ErrTooLarge        = errors.New("upload too large")
	ErrUnsupportedType = errors.New("unsupported media type")
	ErrInvalidImage    = errors.New("invalid image")
	ErrUnavailable     = errors.New("storage unavailable")
	// ErrIncompleteUpload means reading the upload itself failed, e.g. the
	// client went away; the cause is wrapped too.
	ErrIncompleteUpload = errors.New("incomplete upload")
	// ErrImageTooLarge means decoding the image would need more memory than
	// the whole decode budget, or more pixels than allowed, or more memory
	// than its header promised: it never fits.
	ErrImageTooLarge = budget.ErrTooLarge
	// ErrBusy means the decode budget stayed full for the whole wait;
	// retrying later can succeed.
	ErrBusy = budget.ErrBusy
)

// Limits bound what one request and the whole process may use.
type Limits struct {
	MaxUploadBytes int64
	// DecodeMemory is the budget shared by every decode in the process.
	DecodeMemory int64
	// DecodeWait is how long a decode waits for budget before ErrBusy.
	DecodeWait time.Duration
	// DecodeLog gets a debug line per decode and a warning for a decode
	// that needed more than its reservation. Nil discards.
	DecodeLog *slog.Logger
}

// Service is safe for concurrent use.
type Service struct {
	store  *store.Store
	bus    *events.Bus
	limits Limits
	// decoder holds DecodeMemory bytes for upload buffers and decodes,
	// which run in child processes capped at their reservations.
	decoder *budget.Budget
	// decodeSlots bounds concurrent thumbnail renders to the CPUs: a grid of
	// cold thumbnails must not decode hundreds of originals at once.
	decodeSlots chan struct{}

	// reservedHook and waitingHook, when set by tests, run while a decode
	// holds its reservation, before decoding, and when an upload starts
	// waiting for an identical one in flight.
	reservedHook, waitingHook func()

	mu sync.Mutex
	// uploading maps the SHA-256 of uploads being checked to a channel
	// closed when that check ends, so identical bytes are decoded once.
	uploading map[string]chan struct{}
}

// New returns a Service storing into st and publishing to bus.
func New(st *store.Store, bus *events.Bus, limits Limits) *Service {
	s := &Service{
		store:       st,
		bus:         bus,
		limits:      limits,
		decodeSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		uploading:   map[string]chan struct{}{},
	}
	s.decoder = budget.New(budget.Options{
		Bytes:  limits.DecodeMemory,
		Wait:   limits.DecodeWait,
		Logger: limits.DecodeLog,
		Reserved: func() {
			if s.reservedHook != nil {
				s.reservedHook()
			}
		},
	})
	return s
}

// MaxUploadBytes is the largest accepted original.
func (s *Service) MaxUploadBytes() int64 { return s.limits.MaxUploadBytes }

// RetryAfter is a fair time for a client to wait after ErrBusy.
func (s *Service) RetryAfter() time.Duration { return max(time.Second, s.limits.DecodeWait) }

// Upload reads one image from r, checks that it is a complete image of a
// supported type, and stores it. Identical bytes return the existing photo
// with created == false, found by hash before anything is decoded. Nothing
// is stored when any check fails.
func (s *Service) Upload(ctx context.Context, filename string, r io.Reader) (p store.Photo, created bool, err error) {
	data, releaseData, err := s.readUpload(ctx, r)
	if err != nil {
		return store.Photo{}, false, err
	}
	defer releaseData()
	if int64(len(data)) > s.limits.MaxUploadBytes {
		return store.Photo{}, false, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, s.limits.MaxUploadBytes)
	}
	if len(data) == 0 {
		return store.Photo{}, false, fmt.Errorf("%w: empty file", ErrInvalidImage)
	}
	contentType, err := imaging.DetectContentType(data)
	if err != nil {
		return store.Photo{}, false, fmt.Errorf("%w: %v", ErrUnsupportedType, err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	done, err := s.claimUpload(ctx, hash)
	if err != nil {
		return store.Photo{}, false, err
	}
	if done == nil { // already stored
		p, _, err := s.store.FindBySHA256(ctx, hash)
		return p, false, storeError(err)
	}
	defer s.releaseUpload(hash, done)

	h, err := s.decoder.Check(ctx, data, contentType, int64(cap(data)))
	if err != nil {
		return store.Photo{}, false, decodeError(err)
	}
	p, created, err = s.store.Create(ctx, store.NewPhoto{
		Filename:    SanitizeFilename(filename),
		ContentType: contentType,
		Width:       h.Width,
		Height:      h.Height,
		Data:        data,
	})
	if err != nil {
		return store.Photo{}, false, storeError(err)
	}
	if created {
		s.bus.Publish(ctx, &photov1.PhotoUploaded{Photo: ToProto(p)})
	}
	return p, created, nil
}

// claimUpload makes the caller the only one checking bytes with this hash.
// It returns a nil channel when those bytes are already stored, possibly by
// an upload it waited for.
func (s *Service) claimUpload(ctx context.Context, hash string) (chan struct{}, error) {
	for {
		if _, ok, err := s.store.FindBySHA256(ctx, hash); err != nil {
			return nil, storeError(err)
		} else if ok {
			return nil, nil
		}
		s.mu.Lock()
		other, busy := s.uploading[hash]
		if !busy {
			mine := make(chan struct{})
			s.uploading[hash] = mine
			s.mu.Unlock()
			return mine, nil
		}
		s.mu.Unlock()
		if s.waitingHook != nil {
			s.waitingHook()
		}
		select {
		case <-other:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Service) releaseUpload(hash string, done chan struct{}) {
	s.mu.Lock()
	delete(s.uploading, hash)
	s.mu.Unlock()
	close(done)
}

// readUpload reads r into memory, at most MaxUploadBytes+1 bytes, taking
// budget for its buffer before each time it grows: many large uploads at
// once wait for each other (then fail with ErrBusy) instead of exhausting
// memory before any decode is even considered.
func (s *Service) readUpload(ctx context.Context, r io.Reader) (data []byte, release func(), err error) {
	limit := s.limits.MaxUploadBytes + 1
	release = func() {}
	grow := func(size int64) error {
		releaseBigger, err := s.decoder.Acquire(ctx, size)
		if err != nil {
			return err
		}
		bigger := make([]byte, len(data), size)
		copy(bigger, data)
		release()
		data, release = bigger, releaseBigger
		return nil
	}
	if err := grow(min(uploadChunk, limit)); err != nil {
		return nil, nil, err
	}
	for int64(len(data)) < limit {
		if len(data) == cap(data) {
			if err := grow(min(2*int64(cap(data)), limit)); err != nil {
				release()
				return nil, nil, err
			}
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("%w: %w", ErrIncompleteUpload, err)
		}
	}
	return data, release, nil
}

// uploadChunk is the first buffer of an upload; it doubles from there.
const uploadChunk = 256 << 10

// decodeError gives a decode's failure this package's sentinel: the
// budget's errors are ErrImageTooLarge and ErrBusy already.
func decodeError(err error) error {
	if errors.Is(err, imaging.ErrCorrupt) || errors.Is(err, imaging.ErrUnsupported) {
		return fmt.Errorf("%w: %v", ErrInvalidImage, err)
	}
	return err
}

// Get returns one photo's metadata.
func (s *Service) Get(ctx context.Context, id string) (store.Photo, error) {
	if !store.ValidID(id) {
		return store.Photo{}, ErrMalformedID
	}
	p, err := s.store.Get(ctx, id)
	return p, storeError(err)
}

// OpenOriginal returns the original bytes, read with ctx; the caller
// closes them.
func (s *Service) OpenOriginal(ctx context.Context, id string) (blob.Object, store.Photo, error) {
	if !store.ValidID(id) {
		return nil, store.Photo{}, ErrMalformedID
	}
	f, p, err := s.store.OpenOriginal(ctx, id)
	return f, p, storeError(err)
}

// List returns a page of at most limit photos, newest first.
func (s *Service) List(ctx context.Context, limit int, cursor string) ([]store.Photo, string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
	}
	photos, next, err := s.store.List(ctx, limit, cursor)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: cursor is malformed; pass next_cursor from a previous page", ErrInvalidArgument)
	}
	return photos, next, storeError(err)
}

// Delete removes a photo and its thumbnails.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !store.ValidID(id) {
		return ErrMalformedID
	}
	p, err := s.store.Delete(ctx, id)
	if err != nil {
		return storeError(err)
	}
	s.bus.Publish(ctx, &photov1.PhotoDeleted{Id: p.ID, DeletedAt: timestamppb.Now()})
	return nil
}

// Thumbnail is a JPEG rendition of a photo.
type Thumbnail struct {
	JPEG          []byte
	Width, Height int
}

// ThumbnailETag is the strong ETag of p's thumbnail for a requested size:
// its hash and ladder step name the content. ok is false for a size
// Thumbnail would refuse.
func ThumbnailETag(p store.Photo, size int) (etag string, ok bool) {
	if size < MinThumbnailSize || size > MaxThumbnailSize {
		return "", false
	}
	return fmt.Sprintf(`"%s-%d"`, p.SHA256, store.LadderStep(size)), true
}

// Thumbnail returns a JPEG whose longest side is the ladder step for size
// (or the original's, if smaller), generating and caching it on first use.
func (s *Service) Thumbnail(ctx context.Context, id string, size int) (Thumbnail, error) {
	if size < MinThumbnailSize || size > MaxThumbnailSize {
		return Thumbnail{}, fmt.Errorf("%w: size must be between %d and %d", ErrInvalidArgument, MinThumbnailSize, MaxThumbnailSize)
	}
	size = store.LadderStep(size)
	p, err := s.Get(ctx, id)
	if err != nil {
		return Thumbnail{}, storeError(err)
	}
	// Dimensions follow from the metadata, so cache hits need no decoding.
	w, h := imaging.Fit(p.Width, p.Height, size)
	th := Thumbnail{Width: w, Height: h}
	if data, ok, err := s.store.Thumbnail(ctx, id, size); err != nil {
		return Thumbnail{}, storeError(err)
	} else if ok {
		th.JPEG = data
		return th, nil
	}

	select {
	case s.decodeSlots <- struct{}{}:
		defer func() { <-s.decodeSlots }()
	case <-ctx.Done():
		return Thumbnail{}, ctx.Err()
	}
	th.JPEG, err = s.renderThumbnail(ctx, id, p.ContentType, size)
	if err != nil {
		return Thumbnail{}, err
	}
	// Fails with ErrNotFound, leaving no file, if the photo was deleted
	// while it rendered.
	if err := s.store.PutThumbnail(ctx, id, size, th.JPEG); err != nil {
		return Thumbnail{}, storeError(err)
	}
	return th, nil
}

func (s *Service) renderThumbnail(ctx context.Context, id, contentType string, size int) ([]byte, error) {
	f, _, err := s.store.OpenOriginal(ctx, id)
	if err != nil {
		return nil, storeError(err)
	}
	// The original's bytes are not reserved: decodeSlots bounds how many
	// renders hold one, and each is at most MaxUploadBytes.
	original, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	data, err := s.decoder.Thumbnail(ctx, original, contentType, size)
	if err = decodeError(err); errors.Is(err, ErrInvalidImage) {
		return nil, fmt.Errorf("stored original %s: %w", id, err)
	}
	return data, err
}

// SanitizeFilename reduces a client-supplied name to a display-only base
// name: no directories (either slash style), no control or format
// characters (such as bidi overrides that make "gpj.exe" display as
// "exe.jpg"), valid UTF-8, at most 255 bytes. It is never used as a path.
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > maxFilenameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "" || name == "." || name == ".." || name == "/" {
		return "upload"
	}
	return name
}

// ToProto converts stored metadata to its API representation.
func ToProto(p store.Photo) *photov1.Photo { return p.Proto() }

// storeError translates store errors into this package's sentinels.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
