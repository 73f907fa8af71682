package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// IDs are 16 bytes, a 48-bit millisecond timestamp followed by 80 random
// bits, written in lowercase Crockford base32. The alphabet is in ASCII
// order, so IDs sort by creation time, which is what List pages by. They are
// URL- and path-safe and carry nothing from the upload (such as its name).
const (
	idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	idLen      = 26
)

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// idSource hands out IDs in strictly increasing order, with creation times
// strictly increasing too, so "newest first" by ID is a total order that
// agrees with created_at even for photos created in the same millisecond.
// Times have microseconds, what every backend (Postgres too) keeps.
type idSource struct {
	mu   sync.Mutex
	last time.Time
	prev [16]byte
}

func (s *idSource) next() (time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if !now.After(s.last) {
		now = s.last.Add(time.Microsecond)
	}
	s.last = now
	b := newIDBytes(now)
	if bytes.Compare(b[:], s.prev[:]) <= 0 {
		// Same millisecond: step the previous ID's random part instead.
		b = s.prev
		for i := len(b) - 1; i >= 6; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	s.prev = b
	return now, idEncoding.EncodeToString(b[:])
}

func newIDBytes(now time.Time) [16]byte {
	var b [16]byte
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixMilli()))
	copy(b[:6], ts[2:])
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	return b
}

// ValidID reports whether s is a well-formed photo ID. Only valid IDs are
// ever turned into file paths, which rules out path traversal through IDs.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	b, err := idEncoding.DecodeString(s)
	// Re-encoding rejects non-canonical spellings whose spare low bits are set.
	return err == nil && idEncoding.EncodeToString(b) == s
}

// idTime is when the photo with this ID was created, to the millisecond,
// or the zero time for a malformed ID.
func idTime(id string) time.Time {
	if !ValidID(id) {
		return time.Time{}
	}
	b, _ := idEncoding.DecodeString(id)
	var ts [8]byte
	copy(ts[2:], b[:6])
	return time.UnixMilli(int64(binary.BigEndian.Uint64(ts[:])))
}
