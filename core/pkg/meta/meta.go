// Package meta defines photo metadata and the interface of the stores that
// keep it: the embedded one (boltmeta) and Postgres (pgmeta). It depends on
// nothing else of core, so that plugins can share it.
package meta

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

var (
	// ErrNotFound means no photo has the given ID.
	ErrNotFound = errors.New("photo not found")
	// ErrUnavailable means the store's server could not be reached or did
	// not answer in time; retrying later can succeed. Implementations wrap
	// it together with the cause, naming the server.
	ErrUnavailable = errors.New("unavailable")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("store is closed")
)

// Photo is the stored metadata of one original.
type Photo struct {
	ID          string    `json:"id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	CreatedAt   time.Time `json:"created_at"`
}

// Proto is the photo in the API's and the events' representation.
func (p Photo) Proto() *photov1.Photo {
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

// Store keeps photo metadata and the thumbnail index. IDs are opaque to it;
// callers validate them. Implementations are safe for concurrent use, by
// several processes where the backend allows it.
type Store interface {
	// Create records p unless a photo with the same SHA256 exists; then it
	// returns that photo and created == false. This is the only place
	// deduplication is decided, so concurrent callers (even in other
	// processes) never record the same bytes twice.
	Create(ctx context.Context, p Photo) (stored Photo, created bool, err error)
	Get(ctx context.Context, id string) (Photo, error)
	// FindBySHA256 returns the photo whose bytes have this lowercase hex
	// SHA-256; ok is false when there is none.
	FindBySHA256(ctx context.Context, hash string) (p Photo, ok bool, err error)
	// List returns up to limit photos with IDs below before (all IDs when
	// before is empty), highest ID first.
	List(ctx context.Context, limit int, before string) ([]Photo, error)
	// Delete removes a photo and its thumbnail index entries, and returns
	// the photo as it was.
	Delete(ctx context.Context, id string) (Photo, error)
	// Existing returns which of ids have a photo.
	Existing(ctx context.Context, ids []string) (map[string]bool, error)
	// AddThumbnail records that a thumbnail of this size is stored. It
	// fails with ErrNotFound once the photo is deleted, so that a
	// thumbnail rendered while its photo is deleted is never kept.
	AddThumbnail(ctx context.Context, id string, size int) error
	// Thumbnails returns the sizes recorded for a photo, smallest first,
	// or ErrNotFound when there is no such photo.
	Thumbnails(ctx context.Context, id string) ([]int, error)
	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error
	Close() error
}
