// Package store keeps photo originals as files under the data directory and
// their metadata in an embedded bbolt database (pure Go, so CGO_ENABLED=0).
//
// Crash safety rests on ordering: an original is written to tmp/, fsynced,
// renamed into originals/ and the directory fsynced before its metadata is
// committed; deletion removes metadata before files. A photo is therefore
// visible only once it is complete, and a crash can at worst leave files
// nobody refers to, which Open sweeps away.
//
// Layout of the data directory:
//
//	pixie.db                     metadata (bbolt)
//	originals/<id>               uploaded bytes, unchanged
//	thumbnails/<id>/<size>.jpg   cached thumbnails
//	tmp/                         files being written
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrNotFound means no photo has the given ID.
	ErrNotFound = errors.New("photo not found")
	// ErrBadCursor means a List cursor is not one this store handed out.
	ErrBadCursor = errors.New("malformed cursor")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("store is closed")
)

var (
	bucketPhotos   = []byte("photos")    // id -> JSON Photo
	bucketBySHA256 = []byte("by_sha256") // hex sha256 -> id, for deduplication
)

const (
	dbFile        = "pixie.db"
	originalsDir  = "originals"
	thumbnailsDir = "thumbnails"
	tmpDir        = "tmp"
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

// NewPhoto is what a caller knows about an upload; the store assigns the ID,
// size, hash and creation time.
type NewPhoto struct {
	Filename    string
	ContentType string
	Width       int
	Height      int
	Data        []byte
}

// Store is safe for concurrent use.
type Store struct {
	dir    string
	db     *bolt.DB
	logger *slog.Logger
	closed atomic.Bool
	ids    idSource

	// thumbMu orders PutThumbnail against Delete, so that a thumbnail
	// rendered while its photo is deleted is never left behind.
	thumbMu sync.Mutex

	// crashHook, when set by tests, runs at named points of Create. A hook
	// that panics simulates the process dying there: no cleanup runs.
	crashHook func(stage string)
}

// Open creates the data directory layout if needed, opens the database and
// sweeps away leftovers of interrupted writes and deletes.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	for _, sub := range []string{originalsDir, thumbnailsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	// A short lock timeout turns "another process owns this data dir" into an
	// error instead of a hang.
	db, err := bolt.Open(filepath.Join(dir, dbFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("another process holds PIXIE_DATA_DIR=%s (its %s is locked); stop that process or use another directory", dir, dbFile)
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPhotos, bucketBySHA256} {
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
	s := &Store{dir: dir, db: db, logger: logger}
	if err := s.sweep(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("recover data dir: %w", err)
	}
	return s, nil
}

// Ready reports whether the store is open and usable.
func (s *Store) Ready() bool { return !s.closed.Load() }

// Close releases the database. It is safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

// Create stores a photo, or returns the already stored photo with the same
// bytes and created == false.
func (s *Store) Create(np NewPhoto) (p Photo, created bool, err error) {
	sum := sha256.Sum256(np.Data)
	hash := hex.EncodeToString(sum[:])

	if existing, ok, err := s.FindBySHA256(hash); err != nil || ok {
		return existing, false, err
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
	final := s.originalPath(p.ID)
	if err := s.writeFileAtomic(final, np.Data); err != nil {
		return Photo{}, false, err
	}
	s.hook("file-committed")

	record, err := json.Marshal(p)
	if err != nil {
		_ = os.Remove(final)
		return Photo{}, false, err
	}
	var existing Photo
	err = s.update(func(tx *bolt.Tx) error {
		// Re-check inside the write transaction: a concurrent upload of the
		// same bytes may have committed since FindBySHA256.
		if id := tx.Bucket(bucketBySHA256).Get([]byte(hash)); id != nil {
			return json.Unmarshal(tx.Bucket(bucketPhotos).Get(id), &existing)
		}
		if err := tx.Bucket(bucketPhotos).Put([]byte(p.ID), record); err != nil {
			return err
		}
		return tx.Bucket(bucketBySHA256).Put([]byte(hash), []byte(p.ID))
	})
	if err != nil || existing.ID != "" {
		_ = os.Remove(final) // never referenced by metadata, safe to drop
		return existing, false, err
	}
	return p, true, nil
}

// Get returns the metadata of one photo.
func (s *Store) Get(id string) (Photo, error) {
	if !ValidID(id) {
		return Photo{}, ErrNotFound
	}
	var p Photo
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPhotos).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &p)
	})
	return p, err
}

// OpenOriginal returns the metadata and an open handle on the original bytes.
// The caller closes the file.
func (s *Store) OpenOriginal(id string) (*os.File, Photo, error) {
	p, err := s.Get(id)
	if err != nil {
		return nil, Photo{}, err
	}
	f, err := os.Open(s.originalPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Photo{}, ErrNotFound // deleted after Get
	}
	return f, p, err
}

// List returns up to limit photos, newest first, that are older than the
// photo whose ID is cursor (or the newest ones if cursor is empty). next is
// the cursor for the following page, empty when there is none.
func (s *Store) List(limit int, cursor string) (photos []Photo, next string, err error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("list limit %d must be positive", limit)
	}
	if cursor != "" && !ValidID(cursor) {
		return nil, "", ErrBadCursor
	}
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPhotos).Cursor()
		var k, v []byte
		if cursor == "" {
			k, v = c.Last()
		} else if k, _ = c.Seek([]byte(cursor)); k == nil {
			k, v = c.Last() // every key sorts before the cursor
		} else {
			k, v = c.Prev() // first key strictly before the cursor
		}
		for ; k != nil; k, v = c.Prev() {
			if len(photos) == limit {
				next = photos[len(photos)-1].ID
				return nil
			}
			var p Photo
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode photo %s: %w", k, err)
			}
			photos = append(photos, p)
		}
		return nil
	})
	return photos, next, err
}

// Delete removes a photo and returns its last metadata.
func (s *Store) Delete(id string) (Photo, error) {
	if !ValidID(id) {
		return Photo{}, ErrNotFound
	}
	var p Photo
	err := s.update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPhotos).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPhotos).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketBySHA256).Delete([]byte(p.SHA256))
	})
	if err != nil {
		return Photo{}, err
	}
	// The photo is gone once metadata is; failures below only leave orphans
	// that the next Open sweeps.
	if err := os.Remove(s.originalPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Warn("remove original", slog.String("id", id), slog.Any("error", err))
	}
	s.thumbMu.Lock()
	err = os.RemoveAll(s.thumbnailDir(id))
	s.thumbMu.Unlock()
	if err != nil {
		s.logger.Warn("remove thumbnails", slog.String("id", id), slog.Any("error", err))
	}
	return p, nil
}

// Thumbnail returns a cached thumbnail; ok is false on a cache miss.
func (s *Store) Thumbnail(id string, size int) (data []byte, ok bool, err error) {
	if !ValidID(id) {
		return nil, false, ErrNotFound
	}
	data, err = os.ReadFile(s.thumbnailPath(id, size))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return data, err == nil, err
}

// PutThumbnail caches a thumbnail. It returns ErrNotFound, and writes
// nothing, once the photo is deleted, even while the deletion is under way.
func (s *Store) PutThumbnail(id string, size int, data []byte) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	tmp, err := s.writeTemp(data)
	if err != nil {
		return err
	}
	s.thumbMu.Lock()
	defer s.thumbMu.Unlock()
	// Delete drops metadata before it takes thumbMu to remove the
	// directory, so after this check the directory is ours to fill.
	if _, err := s.Get(id); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.MkdirAll(s.thumbnailDir(id), 0o750); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return s.commit(tmp, s.thumbnailPath(id, size))
}

// PruneThumbnails removes cached thumbnails whose size keep rejects, such
// as sizes cached before thumbnails snapped to a ladder, and returns how
// many it removed.
func (s *Store) PruneThumbnails(keep func(size int) bool) (int, error) {
	s.thumbMu.Lock()
	defer s.thumbMu.Unlock()
	dirs, err := os.ReadDir(filepath.Join(s.dir, thumbnailsDir))
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, d := range dirs {
		files, err := os.ReadDir(s.thumbnailDir(d.Name()))
		if err != nil {
			return removed, err
		}
		for _, f := range files {
			size, err := strconv.Atoi(strings.TrimSuffix(f.Name(), ".jpg"))
			if err == nil && keep(size) {
				continue
			}
			if err := os.Remove(filepath.Join(s.thumbnailDir(d.Name()), f.Name())); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}

func (s *Store) originalPath(id string) string {
	return filepath.Join(s.dir, originalsDir, id)
}

func (s *Store) thumbnailDir(id string) string {
	return filepath.Join(s.dir, thumbnailsDir, id)
}

func (s *Store) thumbnailPath(id string, size int) string {
	return filepath.Join(s.thumbnailDir(id), strconv.Itoa(size)+".jpg")
}

func (s *Store) hook(stage string) {
	if s.crashHook != nil {
		s.crashHook(stage)
	}
}

// writeFileAtomic makes data appear at path completely or not at all, and
// durably so before it returns.
func (s *Store) writeFileAtomic(path string, data []byte) error {
	tmp, err := s.writeTemp(data)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	s.hook("temp-written")
	return s.commit(tmp, path)
}

// writeTemp writes data to a new synced file under tmp/ and returns its path.
func (s *Store) writeTemp(data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "write-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// commit renames tmp to path durably.
func (s *Store) commit(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// FindBySHA256 returns the photo whose bytes have this lowercase hex SHA-256.
func (s *Store) FindBySHA256(hash string) (p Photo, ok bool, err error) {
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

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.View(fn))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return mapClosed(s.db.Update(fn))
}

func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// sweep removes what interrupted operations left behind: temp files, files
// without metadata, and metadata whose original is gone.
func (s *Store) sweep() error {
	ids := map[string]bool{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPhotos).ForEach(func(k, _ []byte) error {
			ids[string(k)] = true
			return nil
		})
	})
	if err != nil {
		return err
	}

	removed := 0
	for _, sub := range []string{tmpDir, originalsDir, thumbnailsDir} {
		entries, err := os.ReadDir(filepath.Join(s.dir, sub))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if sub != tmpDir && ids[e.Name()] {
				continue
			}
			if err := os.RemoveAll(filepath.Join(s.dir, sub, e.Name())); err != nil {
				return err
			}
			removed++
		}
	}

	var dangling [][]byte
	for id := range ids {
		if _, err := os.Stat(s.originalPath(id)); errors.Is(err, fs.ErrNotExist) {
			dangling = append(dangling, []byte(id))
		}
	}
	if len(dangling) > 0 {
		err = s.update(func(tx *bolt.Tx) error {
			photos, bySHA := tx.Bucket(bucketPhotos), tx.Bucket(bucketBySHA256)
			for _, id := range dangling {
				var p Photo
				if err := json.Unmarshal(photos.Get(id), &p); err != nil {
					return err
				}
				if bytes.Equal(bySHA.Get([]byte(p.SHA256)), id) {
					if err := bySHA.Delete([]byte(p.SHA256)); err != nil {
						return err
					}
				}
				if err := photos.Delete(id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if removed > 0 || len(dangling) > 0 {
		s.logger.Warn("recovered data dir after an interrupted operation",
			slog.Int("orphan_files_removed", removed),
			slog.Int("dangling_records_removed", len(dangling)))
	}
	return nil
}
