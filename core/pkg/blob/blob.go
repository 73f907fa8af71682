// Package blob defines where photo bytes live (originals and thumbnails)
// and the interface of those stores: files under the data directory
// (fsblob) and an S3 bucket (s3blob). It depends on nothing else of core,
// so that plugins can share it.
//
// Keys are slash-separated paths made by OriginalKey and ThumbnailKey:
//
//	originals/<id>
//	thumbnails/<id>/<size>.jpg
package blob

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrNotFound means no object has the key.
	ErrNotFound = errors.New("object not found")
	// ErrUnavailable means the store's server could not be reached or did
	// not answer in time; retrying later can succeed. Implementations wrap
	// it together with the cause, naming the server.
	ErrUnavailable = errors.New("unavailable")
)

// Key prefixes: one per kind of object, each followed by a photo ID.
const (
	OriginalsPrefix  = "originals/"
	ThumbnailsPrefix = "thumbnails/"
)

// OriginalKey is where a photo's uploaded bytes live.
func OriginalKey(id string) string { return OriginalsPrefix + id }

// ThumbnailKey is where a photo's thumbnail of one size lives.
func ThumbnailKey(id string, size int) string {
	return ThumbnailPrefix(id) + strconv.Itoa(size) + ".jpg"
}

// ThumbnailPrefix holds all of a photo's thumbnails.
func ThumbnailPrefix(id string) string { return ThumbnailsPrefix + id + "/" }

// PhotoID returns the photo ID a key belongs to, or "" for a key outside
// the layout.
func PhotoID(key string) string {
	for _, prefix := range []string{OriginalsPrefix, ThumbnailsPrefix} {
		if rest, ok := strings.CutPrefix(key, prefix); ok {
			id, _, _ := strings.Cut(rest, "/")
			return id
		}
	}
	return ""
}

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Object is an open object. Reads fetch the bytes lazily from the store,
// and Seek is cheap, so http.ServeContent can serve ranges from it.
type Object interface {
	io.ReadSeekCloser
	Size() int64
}

// Store keeps objects by key. Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under key, replacing any object there, durably
	// before it returns.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Open returns the object at key, or ErrNotFound. The object reads
	// with ctx.
	Open(ctx context.Context, key string) (Object, error)
	// Delete removes the object at key; a missing object is no error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every object whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// List calls fn for every object whose key starts with prefix, in no
	// particular order, stopping at fn's first error.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error
}
