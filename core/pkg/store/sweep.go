package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/blob"
)

// SweepOptions tune Sweep.
type SweepOptions struct {
	// Grace spares objects younger than this (by their stored time and by
	// their ID's): they may belong to an upload whose metadata is not
	// committed yet. It must exceed the longest such upload.
	Grace time.Duration
	// DropDangling also removes metadata whose original is gone. Only the
	// embedded backend does this, at start: a listing that misses objects
	// (a wrong bucket, say) must never cost photos on the stack.
	DropDangling bool
}

// SweepResult counts what a sweep removed.
type SweepResult struct {
	// Orphans is the number of photos whose objects were removed because
	// no metadata refers to them.
	Orphans int
	// Dangling is the number of metadata records removed because their
	// original was gone.
	Dangling int
	// StaleUploads is the number of unfinished multipart uploads aborted.
	StaleUploads int
}

// sweepBatch is how many photo IDs one metadata query checks.
const sweepBatch = 500

// staleUploadAborter is a blob store that can have unfinished uploads
// (S3 multipart uploads of a process that died).
type staleUploadAborter interface {
	AbortStaleUploads(ctx context.Context, startedBefore time.Time) (int, error)
}

// Sweep removes objects that no metadata refers to and that are older than
// the grace period. Several processes may sweep the same stores at once.
func (s *Store) Sweep(ctx context.Context, opts SweepOptions) (SweepResult, error) {
	if err := s.check(); err != nil {
		return SweepResult{}, err
	}
	cutoff := time.Now().Add(-opts.Grace)
	var res SweepResult
	originals := map[string]bool{}
	for _, prefix := range []string{blob.OriginalsPrefix, blob.ThumbnailsPrefix} {
		n, err := s.sweepPrefix(ctx, prefix, cutoff, func(id string) {
			if opts.DropDangling && prefix == blob.OriginalsPrefix {
				originals[id] = true
			}
		})
		res.Orphans += n
		if err != nil {
			return res, err
		}
	}
	if a, ok := s.blobs.(staleUploadAborter); ok {
		n, err := a.AbortStaleUploads(ctx, cutoff)
		res.StaleUploads = n
		if err != nil {
			return res, err
		}
	}
	if opts.DropDangling {
		n, err := s.dropDangling(ctx, originals)
		res.Dangling = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// sweepPrefix lists the objects under prefix in batches of photo IDs and
// removes those of photos without metadata. seen is told every ID listed.
func (s *Store) sweepPrefix(ctx context.Context, prefix string, cutoff time.Time, seen func(id string)) (int, error) {
	young := map[string]bool{}
	var batch []string
	removed := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		existing, err := s.meta.Existing(ctx, batch)
		if err != nil {
			return err
		}
		for _, id := range batch {
			if existing[id] || young[id] {
				continue
			}
			var err error
			if prefix == blob.OriginalsPrefix {
				err = s.blobs.Delete(ctx, blob.OriginalKey(id))
			} else {
				err = s.blobs.DeletePrefix(ctx, blob.ThumbnailPrefix(id))
			}
			if err != nil {
				return err
			}
			removed++
		}
		batch, young = batch[:0], map[string]bool{}
		return nil
	}
	err := s.blobs.List(ctx, prefix, func(info blob.Info) error {
		id := blob.PhotoID(info.Key)
		seen(id)
		if len(batch) == 0 || batch[len(batch)-1] != id { // one photo's thumbnails come one after another
			if len(batch) == sweepBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, id)
		}
		if info.ModTime.After(cutoff) || idTime(id).After(cutoff) {
			young[id] = true
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return removed, err
}

// dropDangling removes the metadata of photos whose original is not among
// originals.
func (s *Store) dropDangling(ctx context.Context, originals map[string]bool) (int, error) {
	var dangling []string
	before := ""
	for {
		page, err := s.meta.List(ctx, sweepBatch, before)
		if err != nil {
			return 0, err
		}
		for _, p := range page {
			if !originals[p.ID] {
				dangling = append(dangling, p.ID)
			}
		}
		if len(page) < sweepBatch {
			break
		}
		before = page[len(page)-1].ID
	}
	for _, id := range dangling {
		if _, err := s.meta.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		if err := s.blobs.DeletePrefix(ctx, blob.ThumbnailPrefix(id)); err != nil {
			return 0, err
		}
	}
	return len(dangling), nil
}

// RunSweeper sweeps every interval until ctx ends (the first time after
// one interval: opening a store sweeps already), logging what it removed
// and, without stopping, what failed.
func (s *Store) RunSweeper(ctx context.Context, interval, grace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.SweepNow(ctx, grace)
	}
}

// SweepNow sweeps once, logging what it removed or what failed.
func (s *Store) SweepNow(ctx context.Context, grace time.Duration) {
	res, err := s.Sweep(ctx, SweepOptions{Grace: grace})
	switch {
	case ctx.Err() != nil:
	case err != nil:
		s.logger.Warn("sweep failed; retrying at the next one", slog.Any("error", err))
	case res != SweepResult{}:
		s.logger.Info("swept unreferenced objects", slog.Int("photos", res.Orphans), slog.Int("stale_uploads", res.StaleUploads))
	}
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// String is for logs and test failures.
func (r SweepResult) String() string {
	return fmt.Sprintf("%d orphans, %d dangling, %d stale uploads", r.Orphans, r.Dangling, r.StaleUploads)
}
