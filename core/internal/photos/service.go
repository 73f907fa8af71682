// Package photos is the application layer shared by the HTTP and gRPC APIs:
// it validates input, checks images, stores them, makes thumbnails and
// publishes events. Its errors wrap the sentinels below so that each API can
// map them to its own status codes.
package photos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	photov1 "github.com/pixie-photos/pixie/core/gen/photo/v1"
	"github.com/pixie-photos/pixie/core/internal/events"
	"github.com/pixie-photos/pixie/core/internal/imaging"
	"github.com/pixie-photos/pixie/core/internal/store"
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
	ErrNotFound        = errors.New("photo not found")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrTooLarge        = errors.New("upload too large")
	ErrUnsupportedType = errors.New("unsupported media type")
	ErrInvalidImage    = errors.New("invalid image")
	ErrUnavailable     = errors.New("storage unavailable")
	// ErrIncompleteUpload means reading the upload itself failed, e.g. the
	// client went away; the cause is wrapped too.
	ErrIncompleteUpload = errors.New("incomplete upload")
)

// Service is safe for concurrent use.
type Service struct {
	store          *store.Store
	bus            *events.Bus
	maxUploadBytes int64
	// decodeSlots bounds concurrent full-size decodes for thumbnails: a grid
	// of cold thumbnails must not decode hundreds of originals at once.
	decodeSlots chan struct{}
}

// New returns a Service storing into st and publishing to bus.
func New(st *store.Store, bus *events.Bus, maxUploadBytes int64) *Service {
	return &Service{
		store:          st,
		bus:            bus,
		maxUploadBytes: maxUploadBytes,
		decodeSlots:    make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
}

// MaxUploadBytes is the largest accepted original.
func (s *Service) MaxUploadBytes() int64 { return s.maxUploadBytes }

// Upload reads one image from r, checks that it is a complete image of a
// supported type, and stores it. Identical bytes return the existing photo
// with created == false. Nothing is stored when any check fails.
func (s *Service) Upload(ctx context.Context, filename string, r io.Reader) (p store.Photo, created bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r, s.maxUploadBytes+1))
	if err != nil {
		return store.Photo{}, false, fmt.Errorf("%w: %w", ErrIncompleteUpload, err)
	}
	if int64(len(data)) > s.maxUploadBytes {
		return store.Photo{}, false, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, s.maxUploadBytes)
	}
	if len(data) == 0 {
		return store.Photo{}, false, fmt.Errorf("%w: empty file", ErrInvalidImage)
	}
	contentType, err := imaging.DetectContentType(data)
	if err != nil {
		return store.Photo{}, false, fmt.Errorf("%w: %v", ErrUnsupportedType, err)
	}
	img, err := imaging.Decode(data, contentType)
	if err != nil {
		return store.Photo{}, false, fmt.Errorf("%w: %v", ErrInvalidImage, err)
	}
	bounds := img.Bounds()
	p, created, err = s.store.Create(store.NewPhoto{
		Filename:    SanitizeFilename(filename),
		ContentType: contentType,
		Width:       bounds.Dx(),
		Height:      bounds.Dy(),
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

// Get returns one photo's metadata.
func (s *Service) Get(_ context.Context, id string) (store.Photo, error) {
	p, err := s.store.Get(id)
	return p, storeError(err)
}

// OpenOriginal returns the original bytes; the caller closes the file.
func (s *Service) OpenOriginal(_ context.Context, id string) (*os.File, store.Photo, error) {
	f, p, err := s.store.OpenOriginal(id)
	return f, p, storeError(err)
}

// List returns a page of at most limit photos, newest first.
func (s *Service) List(_ context.Context, limit int, cursor string) ([]store.Photo, string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
	}
	photos, next, err := s.store.List(limit, cursor)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: cursor is malformed; pass next_cursor from a previous page", ErrInvalidArgument)
	}
	return photos, next, storeError(err)
}

// Delete removes a photo and its thumbnails.
func (s *Service) Delete(ctx context.Context, id string) error {
	p, err := s.store.Delete(id)
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

// Thumbnail returns a JPEG whose longest side is at most size, generating
// and caching it on first use.
func (s *Service) Thumbnail(ctx context.Context, id string, size int) (Thumbnail, error) {
	if size < MinThumbnailSize || size > MaxThumbnailSize {
		return Thumbnail{}, fmt.Errorf("%w: size must be between %d and %d", ErrInvalidArgument, MinThumbnailSize, MaxThumbnailSize)
	}
	p, err := s.store.Get(id)
	if err != nil {
		return Thumbnail{}, storeError(err)
	}
	// Dimensions follow from the metadata, so cache hits need no decoding.
	w, h := imaging.Fit(p.Width, p.Height, size)
	if data, ok, err := s.store.Thumbnail(id, size); err != nil {
		return Thumbnail{}, storeError(err)
	} else if ok {
		return Thumbnail{JPEG: data, Width: w, Height: h}, nil
	}

	select {
	case s.decodeSlots <- struct{}{}:
		defer func() { <-s.decodeSlots }()
	case <-ctx.Done():
		return Thumbnail{}, ctx.Err()
	}
	data, err := s.renderThumbnail(id, p.ContentType, size)
	if err != nil {
		return Thumbnail{}, err
	}
	if err := s.store.PutThumbnail(id, size, data); err != nil {
		return Thumbnail{}, storeError(err)
	}
	return Thumbnail{JPEG: data, Width: w, Height: h}, nil
}

func (s *Service) renderThumbnail(id, contentType string, size int) ([]byte, error) {
	f, _, err := s.store.OpenOriginal(id)
	if err != nil {
		return nil, storeError(err)
	}
	original, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	img, err := imaging.Decode(original, contentType)
	if err != nil {
		return nil, fmt.Errorf("decode stored original %s: %w", id, err)
	}
	data, _, _, err := imaging.ThumbnailJPEG(img, size)
	return data, err
}

// SanitizeFilename reduces a client-supplied name to a display-only base
// name: no directories (either slash style), no control characters, valid
// UTF-8, at most 255 bytes. It is never used as a path.
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
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
func ToProto(p store.Photo) *photov1.Photo {
	return &photov1.Photo{
		Id:          p.ID,
		Filename:    p.Filename,
		ContentType: p.ContentType,
		SizeBytes:   p.Size,
		Sha256:      p.SHA256,
		Width:       int32(p.Width),
		Height:      int32(p.Height),
		CreatedAt:   timestamppb.New(p.CreatedAt),
	}
}

// storeError translates store errors into this package's sentinels.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrClosed):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
