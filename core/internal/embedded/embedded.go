// Package embedded opens the embedded backend: bbolt metadata and files
// under one data directory, laid out as
//
//	pixie.db                     metadata (bbolt, boltmeta)
//	originals/<id>               uploaded bytes, unchanged (fsblob)
//	thumbnails/<id>/<size>.jpg   cached thumbnails
//	tmp/                         files being written
package embedded

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pixie-photos/pixie/core/internal/embedded/boltmeta"
	"github.com/pixie-photos/pixie/core/internal/embedded/fsblob"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// Open opens the embedded backend in dir, creating its layout if needed,
// and sweeps away leftovers of interrupted writes and deletes. The bbolt
// lock makes the directory this process's alone.
func Open(dir string, logger *slog.Logger) (*store.Store, error) {
	blobs, err := fsblob.Open(dir)
	if err != nil {
		return nil, err
	}
	m, err := boltmeta.Open(dir)
	if err != nil {
		return nil, err
	}
	s := store.New(m, blobs, store.Options{Logger: logger})
	temp, err := blobs.RemoveTemp()
	if err == nil {
		// Nothing else uses the directory, so nothing is in flight: no grace.
		var swept store.SweepResult
		swept, err = s.Sweep(context.Background(), store.SweepOptions{DropDangling: true})
		if temp+swept.Orphans > 0 || swept.Dangling > 0 {
			logger.Warn("recovered data dir after an interrupted operation",
				slog.Int("orphan_files_removed", temp+swept.Orphans),
				slog.Int("dangling_records_removed", swept.Dangling))
		}
	}
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("recover data dir: %w", err)
	}
	return s, nil
}
