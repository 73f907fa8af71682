// Package store is what the photos service stores into: photo metadata (a
// meta.Store) and the bytes of originals and thumbnails (a blob.Store),
// kept consistent with each other by ordering, the same on every backend:
//
//   - Create makes the original durable before its metadata is committed,
//     so a photo is visible only once it is complete;
//   - Delete removes the metadata first (with its event, on the stack),
//     then the objects;
//   - a thumbnail is kept only if the thumbnail index accepts it, which it
//     does only while its photo exists.
//
// A crash or a failed dependency at any point therefore leaves at worst
// objects that no metadata refers to, which Sweep removes once they are
// older than a grace period that covers uploads in flight.
//
// It imports no backend: internal/embedded opens the embedded one, and the
// stack's processes (pixie-core, the plugins) combine pgmeta and s3blob.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/meta"
)

// Photo is the stored metadata of one original.
type Photo = meta.Photo

var (
	// ErrNotFound means no photo has the given ID.
	ErrNotFound = meta.ErrNotFound
	// ErrBadCursor means a List cursor is not one this store handed out.
	ErrBadCursor = errors.New("malformed cursor")
	// ErrClosed means the store was used after Close.
	ErrClosed = meta.ErrClosed
	// ErrUnavailable means a backing server is down, slow or still
	// starting; the error says which. Retrying later can succeed.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrPhotoExists means an operation for a deleted photo found it.
	ErrPhotoExists = errors.New("the photo still exists")
)

// NewPhoto is what a caller knows about an upload; the store assigns the ID,
// size, hash and creation time.
type NewPhoto struct {
	Filename    string
	ContentType string
	Width       int
	Height      int
	Data        []byte
}

// Options tune New.
type Options struct {
	Logger *slog.Logger
	// Timeout bounds each operation on the backing stores (0: unbounded);
	// an operation that runs out of it fails with ErrUnavailable.
	Timeout time.Duration
	// Gate, when set, is asked before every operation: a non-nil error
	// (such as "migrations not applied yet") makes it fail with
	// ErrUnavailable.
	Gate func() error
}

// Store is safe for concurrent use.
type Store struct {
	meta   meta.Store
	blobs  blob.Store
	logger *slog.Logger
	opts   Options
	closed atomic.Bool
	ids    idSource

	// crashHook, when set by tests, runs at named points of Create. A hook
	// that panics simulates the process dying there: no cleanup runs.
	crashHook func(stage string)
}

// New combines a metadata store and a blob store.
func New(m meta.Store, b blob.Store, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{meta: m, blobs: b, logger: opts.Logger, opts: opts}
}

// Ready reports whether the store can serve requests, naming the first
// backing server that cannot.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	var metaErr, blobErr error
	var wg sync.WaitGroup
	wg.Go(func() { metaErr = s.meta.Ping(ctx) })
	wg.Go(func() { blobErr = s.blobs.Ping(ctx) })
	wg.Wait()
	return errors.Join(metaErr, blobErr)
}

// Close releases the metadata store. It is safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.meta.Close()
}

func (s *Store) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.Gate != nil {
		if err := s.opts.Gate(); err != nil {
			return unavailableError{err}
		}
	}
	return nil
}

// begin checks the store is usable and bounds one operation.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := s.check(); err != nil {
		return ctx, func() {}, err
	}
	if s.opts.Timeout <= 0 {
		return ctx, func() {}, nil
	}
	opCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	return opCtx, cancel, nil
}

// fail classifies an error of an operation begun with begin on ctx: the
// caller's own cancellation stays as it is; running out of the operation's
// time or a backing server that is down becomes ErrUnavailable.
func (s *Store) fail(ctx, opCtx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case opCtx.Err() != nil:
		return unavailableError{fmt.Errorf("storage did not answer within %v: %w", s.opts.Timeout, err)}
	case errors.Is(err, meta.ErrUnavailable), errors.Is(err, blob.ErrUnavailable):
		return unavailableError{err}
	}
	return err
}

// unavailableError is an ErrUnavailable that reads as its cause.
type unavailableError struct{ err error }

func (e unavailableError) Error() string        { return e.err.Error() }
func (e unavailableError) Unwrap() error        { return e.err }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// cleanup runs work that must finish once a change is committed, even if
// the caller has gone: it gets its own time bound.
func (s *Store) cleanup(ctx context.Context, what string, fn func(context.Context) error) {
	ctx = context.WithoutCancel(ctx)
	if s.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
	}
	if err := fn(ctx); err != nil {
		s.logger.Warn(what+" failed; the sweeper removes what is left", slog.Any("error", err))
	}
}

// Create stores a photo, or returns the already stored photo with the same
// bytes and created == false. The original is durable before the metadata
// is committed; if committing fails, the object is left to the sweeper (the
// commit may have gone through after all).
func (s *Store) Create(ctx context.Context, np NewPhoto) (p Photo, created bool, err error) {
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return Photo{}, false, err
	}
	defer cancel()
	hash := sha256Hex(np.Data)
	if existing, ok, err := s.meta.FindBySHA256(opCtx, hash); err != nil || ok {
		return existing, false, s.fail(ctx, opCtx, err)
	}

	now, id := s.ids.next()
	p = Photo{
		ID:          id,
		Filename:    np.Filename,
		ContentType: np.ContentType,
		Size:        int64(len(np.Data)),
		SHA256:      hash,
		Width:       np.Width,
		Height:      np.Height,
		CreatedAt:   now,
	}
	key := blob.OriginalKey(id)
	if err := s.blobs.Put(opCtx, key, np.Data, np.ContentType); err != nil {
		return Photo{}, false, s.fail(ctx, opCtx, fmt.Errorf("store original: %w", err))
	}
	s.hook("file-committed")
	stored, created, err := s.meta.Create(opCtx, p)
	if err != nil {
		return Photo{}, false, s.fail(ctx, opCtx, err)
	}
	if !created {
		// Another upload of the same bytes committed first; ours was never
		// referenced.
		s.cleanup(ctx, "remove duplicate original", func(ctx context.Context) error { return s.blobs.Delete(ctx, key) })
	}
	return stored, created, nil
}

// Get returns the metadata of one photo.
func (s *Store) Get(ctx context.Context, id string) (Photo, error) {
	if !ValidID(id) {
		return Photo{}, ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return Photo{}, err
	}
	defer cancel()
	p, err := s.meta.Get(opCtx, id)
	return p, s.fail(ctx, opCtx, err)
}

// FindBySHA256 returns the photo whose bytes have this lowercase hex SHA-256.
func (s *Store) FindBySHA256(ctx context.Context, hash string) (p Photo, ok bool, err error) {
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return Photo{}, false, err
	}
	defer cancel()
	p, ok, err = s.meta.FindBySHA256(opCtx, hash)
	return p, ok, s.fail(ctx, opCtx, err)
}

// OpenOriginal returns the metadata and the original bytes, which read
// with ctx. The caller closes the object.
func (s *Store) OpenOriginal(ctx context.Context, id string) (blob.Object, Photo, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, Photo{}, err
	}
	if err := s.check(); err != nil {
		return nil, Photo{}, err
	}
	// The object outlives the operation's time bound, which therefore
	// covers opening it only.
	objCtx, cancel := context.WithCancel(ctx)
	stop := func() bool { return true }
	if s.opts.Timeout > 0 {
		stop = time.AfterFunc(s.opts.Timeout, cancel).Stop
	}
	obj, err := s.blobs.Open(objCtx, blob.OriginalKey(id))
	if inTime := stop(); !inTime && ctx.Err() == nil {
		if err == nil {
			_ = obj.Close()
		}
		cancel()
		return nil, Photo{}, unavailableError{fmt.Errorf("storage did not answer within %v: %w", s.opts.Timeout, objCtx.Err())}
	}
	if err != nil {
		cancel()
		if errors.Is(err, blob.ErrNotFound) {
			return nil, Photo{}, ErrNotFound // deleted after Get
		}
		return nil, Photo{}, s.fail(ctx, objCtx, err)
	}
	return cancelOnClose{obj, cancel}, p, nil
}

// cancelOnClose ends an object's context when it is closed.
type cancelOnClose struct {
	blob.Object
	cancel context.CancelFunc
}

func (o cancelOnClose) Close() error {
	defer o.cancel()
	return o.Object.Close()
}

// List returns up to limit photos, newest first, that are older than the
// photo whose ID is cursor (or the newest ones if cursor is empty). next is
// the cursor for the following page, empty when there is none.
func (s *Store) List(ctx context.Context, limit int, cursor string) (photos []Photo, next string, err error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("list limit %d must be positive", limit)
	}
	if cursor != "" && !ValidID(cursor) {
		return nil, "", ErrBadCursor
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, "", err
	}
	defer cancel()
	photos, err = s.meta.List(opCtx, limit+1, cursor)
	if err != nil {
		return nil, "", s.fail(ctx, opCtx, err)
	}
	if len(photos) > limit {
		photos = photos[:limit]
		next = photos[limit-1].ID
	}
	return photos, next, nil
}

// Delete removes a photo and returns its last metadata. The photo is gone
// once its metadata is; its objects are removed after, and what a failure
// leaves there is the sweeper's.
func (s *Store) Delete(ctx context.Context, id string) (Photo, error) {
	if !ValidID(id) {
		return Photo{}, ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return Photo{}, err
	}
	defer cancel()
	p, err := s.meta.Delete(opCtx, id)
	if err != nil {
		return Photo{}, s.fail(ctx, opCtx, err)
	}
	s.cleanup(ctx, "remove deleted photo's objects", func(ctx context.Context) error {
		return errors.Join(
			s.blobs.Delete(ctx, blob.OriginalKey(id)),
			s.blobs.DeletePrefix(ctx, blob.ThumbnailPrefix(id)))
	})
	return p, nil
}

// Thumbnail returns a stored thumbnail; ok is false when there is none.
func (s *Store) Thumbnail(ctx context.Context, id string, size int) (data []byte, ok bool, err error) {
	if !ValidID(id) {
		return nil, false, ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	obj, err := s.blobs.Open(opCtx, blob.ThumbnailKey(id, size))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail(ctx, opCtx, err)
	}
	defer obj.Close()
	data, err = io.ReadAll(obj)
	if err != nil {
		return nil, false, s.fail(ctx, opCtx, err)
	}
	return data, true, nil
}

// ThumbnailSizes returns the sizes of a photo's stored thumbnails, smallest
// first, as the thumbnail index records them; ErrNotFound when the photo
// is gone.
func (s *Store) ThumbnailSizes(ctx context.Context, id string) ([]int, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	sizes, err := s.meta.Thumbnails(opCtx, id)
	return sizes, s.fail(ctx, opCtx, err)
}

// PutThumbnail stores a thumbnail. It returns ErrNotFound, and keeps
// nothing, once the photo is deleted, even while the deletion is under way.
func (s *Store) PutThumbnail(ctx context.Context, id string, size int, data []byte) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.meta.Get(opCtx, id); err != nil {
		return s.fail(ctx, opCtx, err)
	}
	key := blob.ThumbnailKey(id, size)
	if err := s.blobs.Put(opCtx, key, data, "image/jpeg"); err != nil {
		return s.fail(ctx, opCtx, fmt.Errorf("store thumbnail: %w", err))
	}
	// The index refuses thumbnails of deleted photos; a delete that ran
	// since the check above may have missed this object, so drop it here.
	if err := s.meta.AddThumbnail(opCtx, id, size); errors.Is(err, meta.ErrNotFound) {
		s.cleanup(ctx, "remove thumbnail of a deleted photo", func(ctx context.Context) error { return s.blobs.Delete(ctx, key) })
		return ErrNotFound
	} else if err != nil {
		return s.fail(ctx, opCtx, err)
	}
	return nil
}

// RemoveThumbnails removes the stored thumbnails of a deleted photo (its
// index entries went with its metadata): those a delete's own cleanup
// missed, or that a renderer stored meanwhile. It refuses a photo whose
// metadata exists with ErrPhotoExists: IDs are never reused, so a photo
// that exists was never deleted.
func (s *Store) RemoveThumbnails(ctx context.Context, id string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	opCtx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	switch _, err := s.meta.Get(opCtx, id); {
	case err == nil:
		return fmt.Errorf("%w: %s; its thumbnails stay", ErrPhotoExists, id)
	case !errors.Is(err, meta.ErrNotFound):
		return s.fail(ctx, opCtx, err)
	}
	return s.fail(ctx, opCtx, s.blobs.DeletePrefix(opCtx, blob.ThumbnailPrefix(id)))
}

// thumbnailPruner is a blob store that may hold thumbnails of sizes off
// today's ladder (the embedded one, from older versions).
type thumbnailPruner interface {
	PruneThumbnails(keep func(size int) bool) (int, error)
}

// PruneThumbnails removes stored thumbnails whose size keep rejects and
// returns how many it removed.
func (s *Store) PruneThumbnails(keep func(size int) bool) (int, error) {
	if p, ok := s.blobs.(thumbnailPruner); ok {
		return p.PruneThumbnails(keep)
	}
	return 0, nil
}

func (s *Store) hook(stage string) {
	if s.crashHook != nil {
		s.crashHook(stage)
	}
}
