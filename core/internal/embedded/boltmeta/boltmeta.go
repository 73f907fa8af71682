// Package boltmeta keeps photo metadata in an embedded bbolt database (pure
// Go, so CGO_ENABLED=0): the embedded backend's meta.Store. One process
// owns the database file at a time.
package boltmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/pixie-photos/pixie/core/pkg/meta"
)

// File is the database's name inside the data directory.
const File = "pixie.db"

var (
	bucketPhotos     = []byte("photos")     // id -> JSON Photo
	bucketBySHA256   = []byte("by_sha256")  // hex sha256 -> id, for deduplication
	bucketThumbnails = []byte("thumbnails") // id "/" size -> empty
)

// Store is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir. It fails at once,
// naming dir, when another process holds the database.
func Open(dir string) (*Store, error) {
	// A short lock timeout turns "another process owns this data dir" into an
	// error instead of a hang.
	db, err := bolt.Open(filepath.Join(dir, File), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("another process holds PIXIE_DATA_DIR=%s (its %s is locked); stop that process or use another directory", dir, File)
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPhotos, bucketBySHA256, bucketThumbnails} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init metadata db: %w", err)
	}
	return &Store{db: db}, nil
}

// Close implements meta.Store.
func (s *Store) Close() error { return s.db.Close() }

// Ping implements meta.Store.
func (s *Store) Ping(context.Context) error {
	return s.view(func(*bolt.Tx) error { return nil })
}

// Create implements meta.Store.
func (s *Store) Create(_ context.Context, p meta.Photo) (meta.Photo, bool, error) {
	record, err := json.Marshal(p)
	if err != nil {
		return meta.Photo{}, false, err
	}
	var existing meta.Photo
	err = s.update(func(tx *bolt.Tx) error {
		if id := tx.Bucket(bucketBySHA256).Get([]byte(p.SHA256)); id != nil {
			return json.Unmarshal(tx.Bucket(bucketPhotos).Get(id), &existing)
		}
		if err := tx.Bucket(bucketPhotos).Put([]byte(p.ID), record); err != nil {
			return err
		}
		return tx.Bucket(bucketBySHA256).Put([]byte(p.SHA256), []byte(p.ID))
	})
	switch {
	case err != nil:
		return meta.Photo{}, false, err
	case existing.ID != "":
		return existing, false, nil
	}
	return p, true, nil
}

// Get implements meta.Store.
func (s *Store) Get(_ context.Context, id string) (meta.Photo, error) {
	var p meta.Photo
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPhotos).Get([]byte(id))
		if v == nil {
			return meta.ErrNotFound
		}
		return json.Unmarshal(v, &p)
	})
	return p, err
}

// FindBySHA256 implements meta.Store.
func (s *Store) FindBySHA256(_ context.Context, hash string) (p meta.Photo, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketBySHA256).Get([]byte(hash))
		if id == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(tx.Bucket(bucketPhotos).Get(id), &p)
	})
	return p, ok, err
}

// List implements meta.Store.
func (s *Store) List(_ context.Context, limit int, before string) ([]meta.Photo, error) {
	var photos []meta.Photo
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPhotos).Cursor()
		var k, v []byte
		if before == "" {
			k, v = c.Last()
		} else if k, _ = c.Seek([]byte(before)); k == nil {
			k, v = c.Last() // every key sorts before the cursor
		} else {
			k, v = c.Prev() // first key strictly before the cursor
		}
		for ; k != nil && len(photos) < limit; k, v = c.Prev() {
			var p meta.Photo
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode photo %s: %w", k, err)
			}
			photos = append(photos, p)
		}
		return nil
	})
	return photos, err
}

// Delete implements meta.Store.
func (s *Store) Delete(_ context.Context, id string) (meta.Photo, error) {
	var p meta.Photo
	err := s.update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPhotos).Get([]byte(id))
		if v == nil {
			return meta.ErrNotFound
		}
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPhotos).Delete([]byte(id)); err != nil {
			return err
		}
		bySHA := tx.Bucket(bucketBySHA256)
		if bytes.Equal(bySHA.Get([]byte(p.SHA256)), []byte(id)) {
			if err := bySHA.Delete([]byte(p.SHA256)); err != nil {
				return err
			}
		}
		thumbs := tx.Bucket(bucketThumbnails).Cursor()
		prefix := []byte(id + "/")
		for k, _ := thumbs.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = thumbs.Seek(prefix) {
			if err := thumbs.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	return p, err
}

// Existing implements meta.Store.
func (s *Store) Existing(_ context.Context, ids []string) (map[string]bool, error) {
	found := make(map[string]bool, len(ids))
	err := s.view(func(tx *bolt.Tx) error {
		photos := tx.Bucket(bucketPhotos)
		for _, id := range ids {
			if photos.Get([]byte(id)) != nil {
				found[id] = true
			}
		}
		return nil
	})
	return found, err
}

// AddThumbnail implements meta.Store.
func (s *Store) AddThumbnail(_ context.Context, id string, size int) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPhotos).Get([]byte(id)) == nil {
			return meta.ErrNotFound
		}
		return tx.Bucket(bucketThumbnails).Put([]byte(id+"/"+strconv.Itoa(size)), []byte{})
	})
}

// Thumbnails implements meta.Store.
func (s *Store) Thumbnails(_ context.Context, id string) ([]int, error) {
	var sizes []int
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPhotos).Get([]byte(id)) == nil {
			return meta.ErrNotFound
		}
		prefix := []byte(id + "/")
		thumbs := tx.Bucket(bucketThumbnails).Cursor()
		for k, _ := thumbs.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = thumbs.Next() {
			size, err := strconv.Atoi(string(k[len(prefix):]))
			if err != nil {
				return fmt.Errorf("thumbnail index key %q: %w", k, err)
			}
			sizes = append(sizes, size)
		}
		return nil
	})
	slices.Sort(sizes) // keys sort as text: "1024" before "256"
	return sizes, err
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.View(fn))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.Update(fn))
}

func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return meta.ErrClosed
	}
	return err
}
