// Package render makes a photo's thumbnails ahead of requests: for each
// uploaded photo, the configured ladder steps its thumbnail index lacks,
// rendered under the decode budget exactly as pixie-core renders them on
// demand (core/pkg/imaging/budget: an estimate reserved before decoding, a
// child process capped at the reservation) and stored under the same keys
// and rules (core/pkg/store), so pixie-core serves them as its own.
package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/pkg/imaging"
	"github.com/pixie-photos/pixie/core/pkg/imaging/budget"
	"github.com/pixie-photos/pixie/core/pkg/store"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

var (
	// ErrBadEvent means an event no attempt can handle: it names no photo,
	// or is of a type the thumbnailer does not consume.
	ErrBadEvent = errors.New("bad event")
	// ErrDamaged means a stored original is not what its metadata records.
	ErrDamaged = errors.New("damaged original")
)

// Renderer is safe for concurrent use.
type Renderer struct {
	store   *store.Store
	decoder *budget.Budget
	sizes   []int
	logger  *slog.Logger
}

// New renders sizes of the photos in st, decoding within decoder.
func New(st *store.Store, decoder *budget.Budget, sizes []int, logger *slog.Logger) *Renderer {
	return &Renderer{store: st, decoder: decoder, sizes: sizes, logger: logger}
}

// Handle does what one event asks: render an uploaded photo's thumbnails,
// or remove a deleted photo's.
func (r *Renderer) Handle(ctx context.Context, event proto.Message) error {
	switch e := event.(type) {
	case *photov1.PhotoUploaded:
		return r.Uploaded(ctx, e.GetPhoto().GetId())
	case *photov1.PhotoDeleted:
		return r.Deleted(ctx, e.GetId())
	}
	return fmt.Errorf("%w: %s is not consumed here", ErrBadEvent, event.ProtoReflect().Descriptor().FullName())
}

// Uploaded renders and stores the sizes that the photo's thumbnail index
// lacks, so a repeated event renders nothing twice. A photo deleted
// meanwhile is done with: nothing of it is kept.
func (r *Renderer) Uploaded(ctx context.Context, id string) error {
	if !store.ValidID(id) {
		return fmt.Errorf("%w: photo id %q is malformed", ErrBadEvent, id)
	}
	have, err := r.store.ThumbnailSizes(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.logger.DebugContext(ctx, "photo deleted before its thumbnails", slog.String("photo_id", id))
		return nil
	}
	if err != nil {
		return err
	}
	missing := slices.DeleteFunc(slices.Clone(r.sizes), func(size int) bool { return slices.Contains(have, size) })
	if len(missing) == 0 {
		return nil
	}
	original, contentType, release, err := r.readOriginal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	for _, size := range missing {
		r.logger.DebugContext(ctx, "rendering", slog.String("photo_id", id), slog.Int("size", size))
		jpeg, err := r.decoder.Thumbnail(ctx, original, contentType, size)
		if err != nil {
			return fmt.Errorf("render photo %s at %d px: %w", id, size, err)
		}
		// Refused, leaving nothing, when the photo was deleted meanwhile.
		if err := r.store.PutThumbnail(ctx, id, size, jpeg); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
	}
	r.logger.InfoContext(ctx, "thumbnails stored", slog.String("photo_id", id), slog.Any("sizes", missing))
	return nil
}

// readOriginal reads a photo's original into a buffer held from the decode
// budget, which the caller releases; ErrNotFound when the photo is gone.
func (r *Renderer) readOriginal(ctx context.Context, id string) (data []byte, contentType string, release func(), err error) {
	obj, p, err := r.store.OpenOriginal(ctx, id)
	if err != nil {
		return nil, "", nil, err
	}
	defer obj.Close()
	if obj.Size() != p.Size {
		return nil, "", nil, fmt.Errorf("%w: the stored original of photo %s holds %d bytes, its metadata records %d", ErrDamaged, id, obj.Size(), p.Size)
	}
	if release, err = r.decoder.Acquire(ctx, p.Size); err != nil {
		return nil, "", nil, fmt.Errorf("read photo %s: %w", id, err)
	}
	data = make([]byte, p.Size)
	if _, err = io.ReadFull(obj, data); err != nil {
		release()
		return nil, "", nil, fmt.Errorf("read photo %s: %w", id, err)
	}
	return data, p.ContentType, release, nil
}

// Deleted removes a deleted photo's thumbnails: those its delete left, or
// that a render stored meanwhile.
func (r *Renderer) Deleted(ctx context.Context, id string) error {
	if !store.ValidID(id) {
		return fmt.Errorf("%w: photo id %q is malformed", ErrBadEvent, id)
	}
	if err := r.store.RemoveThumbnails(ctx, id); err != nil {
		return err
	}
	r.logger.InfoContext(ctx, "thumbnails removed", slog.String("photo_id", id))
	return nil
}

// Permanent reports whether no retry can make err go away: the event is
// bad, the photo still exists although deleted, or its original is damaged,
// corrupt, unsupported or too large for the decode budget.
func Permanent(err error) bool {
	for _, never := range []error{ErrBadEvent, ErrDamaged, store.ErrPhotoExists, imaging.ErrCorrupt, imaging.ErrUnsupported, budget.ErrTooLarge} {
		if errors.Is(err, never) {
			return true
		}
	}
	return false
}
