// Package fsblob keeps blobs as files under a directory: the embedded
// backend's originals and thumbnails.
//
// A Put writes a temporary file under tmp/, fsyncs it, renames it to its
// key and fsyncs the folder, so an object is there completely or not at
// all, durably once Put returns. Folders of one photo's thumbnails are made
// and removed under one lock, so a Put racing DeletePrefix never leaves an
// empty folder behind.
package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pixie-photos/pixie/core/pkg/blob"
)

const tmpDir = "tmp"

// Store is safe for concurrent use by one process.
type Store struct {
	dir string
	// mu orders the making and removing of folders against renames into
	// them.
	mu sync.Mutex
}

var _ blob.Store = (*Store)(nil)

// Open makes the folder layout under dir if needed.
func Open(dir string) (*Store, error) {
	for _, sub := range []string{blob.OriginalsPrefix, blob.ThumbnailsPrefix, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// path maps a key to its file, refusing keys that are not clean relative
// paths inside the layout (keys are made from validated IDs; this is a
// backstop against traversal).
func (s *Store) path(key string) (string, error) {
	if path.Clean(key) != key || !inLayout(key) {
		return "", fmt.Errorf("fsblob: key %q is outside the layout", key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// folder maps a prefix ending in "/" to its folder.
func (s *Store) folder(prefix string) (string, error) {
	trimmed := strings.TrimSuffix(prefix, "/")
	if trimmed == prefix || path.Clean(trimmed) != trimmed || !inLayout(prefix) {
		return "", fmt.Errorf("fsblob: prefix %q does not name a folder of the layout", prefix)
	}
	return filepath.Join(s.dir, filepath.FromSlash(trimmed)), nil
}

func inLayout(name string) bool {
	return strings.HasPrefix(name, blob.OriginalsPrefix) || strings.HasPrefix(name, blob.ThumbnailsPrefix)
}

// Put implements blob.Store.
func (s *Store) Put(_ context.Context, key string, data []byte, _ string) error {
	dst, err := s.path(key)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(data)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
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

type file struct {
	*os.File
	size int64
}

func (f file) Size() int64 { return f.size }

// Open implements blob.Store.
func (s *Store) Open(_ context.Context, key string) (blob.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return file{f, info.Size()}, nil
}

// Delete implements blob.Store. A thumbnail folder left empty goes too.
func (s *Store) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(p); filepath.Dir(parent) == filepath.Join(s.dir, strings.TrimSuffix(blob.ThumbnailsPrefix, "/")) {
		_ = os.Remove(parent) // fails, as it should, while other thumbnails are there
	}
	return nil
}

// DeletePrefix implements blob.Store for prefixes that name a folder
// (ending in "/"), the only kind the layout has.
func (s *Store) DeletePrefix(_ context.Context, prefix string) error {
	p, err := s.folder(prefix)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return os.RemoveAll(p)
}

// List implements blob.Store for prefixes that name a folder.
func (s *Store) List(_ context.Context, prefix string, fn func(blob.Info) error) error {
	root, err := s.folder(prefix)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		return fn(blob.Info{Key: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
	})
}

// Ping implements blob.Store.
func (s *Store) Ping(context.Context) error {
	_, err := os.Stat(filepath.Join(s.dir, tmpDir))
	return err
}

// RemoveTemp removes what interrupted writes left under tmp/ and returns
// how many files it removed. Only call it while no Put can be under way.
func (s *Store) RemoveTemp() (int, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.dir, tmpDir, e.Name())); err != nil {
			return 0, err
		}
	}
	return len(entries), nil
}

// PruneThumbnails removes stored thumbnails whose size keep rejects, such
// as sizes cached before thumbnails snapped to a ladder, and returns how
// many it removed.
func (s *Store) PruneThumbnails(keep func(size int) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := filepath.Join(s.dir, blob.ThumbnailsPrefix)
	dirs, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, d := range dirs {
		files, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			return removed, err
		}
		for _, f := range files {
			size, err := strconv.Atoi(strings.TrimSuffix(f.Name(), ".jpg"))
			if err == nil && keep(size) {
				continue
			}
			if err := os.Remove(filepath.Join(root, d.Name(), f.Name())); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}
