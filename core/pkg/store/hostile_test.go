package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// Photos created in the same millisecond, even concurrently, still list in
// one strict order that agrees with their creation times.
func TestNewestFirstIsStrictEvenWithinOneMillisecond(t *testing.T) {
	s := open(t, t.TempDir())
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, _, err := s.Create(ctx, newPhoto(fmt.Sprint("photo ", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	page, _, err := s.List(ctx, 1000, "")
	if err != nil || len(page) != 200 {
		t.Fatalf("listed %d, err %v", len(page), err)
	}
	for i := 1; i < len(page); i++ {
		newer, older := page[i-1], page[i]
		if newer.ID <= older.ID || !newer.CreatedAt.After(older.CreatedAt) {
			t.Fatalf("position %d: %s (%v) listed before %s (%v)", i, newer.ID, newer.CreatedAt, older.ID, older.CreatedAt)
		}
	}
}

func TestPutThumbnailAfterDeleteIsNotFoundAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	p, _, err := s.Create(ctx, newPhoto("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutThumbnail(ctx, p.ID, 256, []byte("jpeg")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutThumbnail after Delete: %v, want ErrNotFound", err)
	}
	if names := dirEntries(t, filepath.Join(dir, "thumbnails")); len(names) != 0 {
		t.Fatalf("thumbnails left: %v", names)
	}
	if names := dirEntries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("temp files left: %v", names)
	}
}

// Deletes racing thumbnail writes must never leave a thumbnail directory
// for a photo that is gone.
func TestDeleteRacingThumbnailWritesLeavesNoOrphans(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 50 {
		p, _, err := s.Create(ctx, newPhoto(fmt.Sprint("race ", i)))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for size := range 4 {
			wg.Go(func() {
				if err := s.PutThumbnail(ctx, p.ID, 64<<size, []byte("jpeg")); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			if _, err := s.Delete(ctx, p.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
	if names := dirEntries(t, filepath.Join(dir, "thumbnails")); len(names) != 0 {
		t.Fatalf("orphan thumbnail directories: %v", names)
	}
}

func TestSecondOpenSaysAnotherProcessHoldsTheDataDir(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	// bbolt's lock is per open file description, so a second Open in this
	// process is refused just as another process would be.
	_, err := embedded.Open(dir, discard())
	if err == nil || !strings.Contains(err.Error(), "another process holds PIXIE_DATA_DIR="+dir) {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "pixie.db")); statErr != nil {
		t.Fatal(statErr)
	}
}

func TestPruneThumbnailsKeepsOnlyWhatKeepAccepts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	p, _, err := s.Create(ctx, newPhoto("prune"))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{64, 100, 256, 1999} {
		if err := s.PutThumbnail(ctx, p.ID, size, []byte("jpeg")); err != nil {
			t.Fatal(err)
		}
	}
	stray := filepath.Join(dir, "thumbnails", p.ID, "notes.txt")
	if err := os.WriteFile(stray, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := s.PruneThumbnails(func(size int) bool { return size == 64 || size == 256 })
	if err != nil || removed != 3 {
		t.Fatalf("removed %d, err %v; want 3", removed, err)
	}
	if got := strings.Join(dirEntries(t, filepath.Join(dir, "thumbnails", p.ID)), " "); got != "256.jpg 64.jpg" {
		t.Fatalf("left %q", got)
	}
}
