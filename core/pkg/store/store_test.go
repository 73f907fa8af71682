package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

var ctx = context.Background()

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := embedded.Open(dir, discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newPhoto(data string) store.NewPhoto {
	return store.NewPhoto{Filename: "a.jpg", ContentType: "image/jpeg", Width: 3, Height: 2, Data: []byte(data)}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateGetOpenOriginal(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	p, created, err := s.Create(ctx, newPhoto("hello"))
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	if !store.ValidID(p.ID) || p.Size != 5 || p.Width != 3 || p.Height != 2 || p.CreatedAt.IsZero() {
		t.Fatalf("unexpected photo %+v", p)
	}
	if p.SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("sha256 = %s", p.SHA256)
	}
	got, err := s.Get(ctx, p.ID)
	if err != nil || got != p {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, p)
	}
	f, meta, err := s.OpenOriginal(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if string(b) != "hello" || meta.ID != p.ID {
		t.Fatalf("original = %q, meta %+v", b, meta)
	}
	if names := dirEntries(t, filepath.Join(dir, "originals")); len(names) != 1 || names[0] != p.ID {
		t.Fatalf("originals dir = %v, want only the ID as a file name", names)
	}
	if names := dirEntries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("tmp dir not empty after create: %v", names)
	}
}

func TestCreateDeduplicatesBySHA256(t *testing.T) {
	s := open(t, t.TempDir())
	first, _, err := s.Create(ctx, newPhoto("same"))
	if err != nil {
		t.Fatal(err)
	}
	again := newPhoto("same")
	again.Filename = "other.jpg"
	second, created, err := s.Create(ctx, again)
	if err != nil || created {
		t.Fatalf("second Create created=%v err=%v, want existing", created, err)
	}
	if second != first {
		t.Fatalf("dedupe returned %+v, want %+v", second, first)
	}
}

func TestUnknownAndMalformedIDs(t *testing.T) {
	s := open(t, t.TempDir())
	p, _, err := s.Create(ctx, newPhoto("x"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("0", 26)
	for _, id := range []string{unknown, "", "../../etc/passwd", p.ID + "x", strings.ToUpper(p.ID)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if _, _, err := s.OpenOriginal(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OpenOriginal(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := s.Delete(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestValidID(t *testing.T) {
	s := open(t, t.TempDir())
	p, _, _ := s.Create(ctx, newPhoto("id"))
	if !store.ValidID(p.ID) {
		t.Fatalf("generated ID %q is not valid", p.ID)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("u", 26), strings.Repeat("z", 26), "0000000000000000000000000/"} {
		if store.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	s := open(t, t.TempDir())
	var ids []string
	for i := range 7 {
		p, _, err := s.Create(ctx, newPhoto(strings.Repeat("p", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not terminate")
		}
		page, next, err := s.List(ctx, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d > limit", len(page))
		}
		for _, p := range page {
			seen = append(seen, p.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != len(ids) {
		t.Fatalf("listed %d photos, want %d", len(seen), len(ids))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] <= seen[i] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
	// IDs are time-ordered, so the last created is listed first.
	maxID := ids[0]
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	if seen[0] != maxID {
		t.Fatalf("first listed %s, want newest %s", seen[0], maxID)
	}

	if _, _, err := s.List(ctx, 3, "not-a-cursor"); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, _, err := s.List(ctx, 0, ""); err == nil {
		t.Fatal("List(0) should fail")
	}
	page, next, err := s.List(ctx, 7, "")
	if err != nil || len(page) != 7 || next != "" {
		t.Fatalf("exact page: len=%d next=%q err=%v", len(page), next, err)
	}
}

func TestDeleteRemovesEverything(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	p, _, _ := s.Create(ctx, newPhoto("bye"))
	if err := s.PutThumbnail(ctx, p.ID, 64, []byte("thumb")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Delete(ctx, p.ID)
	if err != nil || got.ID != p.ID {
		t.Fatalf("Delete = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if _, err := s.Delete(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for _, sub := range []string{"originals", "thumbnails"} {
		if names := dirEntries(t, filepath.Join(dir, sub)); len(names) != 0 {
			t.Fatalf("%s not empty after delete: %v", sub, names)
		}
	}
	// The bytes can be uploaded again as a new photo.
	again, created, err := s.Create(ctx, newPhoto("bye"))
	if err != nil || !created || again.ID == p.ID {
		t.Fatalf("re-create after delete: %+v created=%v err=%v", again, created, err)
	}
}

func TestThumbnailCache(t *testing.T) {
	s := open(t, t.TempDir())
	p, _, _ := s.Create(ctx, newPhoto("t"))
	if _, ok, err := s.Thumbnail(ctx, p.ID, 128); ok || err != nil {
		t.Fatalf("miss expected, got ok=%v err=%v", ok, err)
	}
	if err := s.PutThumbnail(ctx, p.ID, 128, []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	data, ok, err := s.Thumbnail(ctx, p.ID, 128)
	if !ok || err != nil || !bytes.Equal(data, []byte("jpeg")) {
		t.Fatalf("hit expected, got %q ok=%v err=%v", data, ok, err)
	}
	if _, ok, _ := s.Thumbnail(ctx, p.ID, 256); ok {
		t.Fatal("sizes must be cached separately")
	}
	for _, size := range []int{1024, 256, 1024} {
		if err := s.PutThumbnail(ctx, p.ID, size, []byte("jpeg")); err != nil {
			t.Fatal(err)
		}
	}
	if sizes, err := s.ThumbnailSizes(ctx, p.ID); err != nil || !slices.Equal(sizes, []int{128, 256, 1024}) {
		t.Fatalf("ThumbnailSizes = %v, %v; want [128 256 1024] (numeric order, each once)", sizes, err)
	}
	if _, err := s.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if sizes, err := s.ThumbnailSizes(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ThumbnailSizes of a deleted photo = %v, %v; want ErrNotFound", sizes, err)
	}
}

func TestRemoveThumbnailsOfDeletedPhotosOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	p, _, _ := s.Create(ctx, newPhoto("r"))
	if err := s.PutThumbnail(ctx, p.ID, 256, []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveThumbnails(ctx, p.ID); !errors.Is(err, store.ErrPhotoExists) {
		t.Fatalf("RemoveThumbnails of a stored photo: %v, want ErrPhotoExists", err)
	}
	if _, ok, _ := s.Thumbnail(ctx, p.ID, 256); !ok {
		t.Fatal("the thumbnail of a stored photo was removed")
	}
	if _, err := s.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	// One the delete's cleanup missed (a renderer stored it meanwhile).
	left := filepath.Join(dir, "thumbnails", p.ID, "1024.jpg")
	if err := os.MkdirAll(filepath.Dir(left), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(left, []byte("jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveThumbnails(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(left)); !os.IsNotExist(err) {
		t.Fatalf("thumbnails left after RemoveThumbnails: %v", err)
	}
	if err := s.RemoveThumbnails(ctx, p.ID); err != nil {
		t.Fatalf("a second RemoveThumbnails: %v", err)
	}
}

type crash struct{ stage string }

// createCrashingAt runs Create with the process "dying" at stage.
func createCrashingAt(t *testing.T, s *store.Store, stage string, np store.NewPhoto) {
	t.Helper()
	s.SetCrashHook(func(at string) {
		if at == stage {
			panic(crash{at})
		}
	})
	defer func() {
		r := recover()
		if c, ok := r.(crash); !ok || c.stage != stage {
			t.Fatalf("expected simulated crash at %s, got %v", stage, r)
		}
	}()
	_, _, _ = s.Create(ctx, np)
}

func TestCrashBetweenFileAndMetadataLeavesNothingVisible(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := s.Create(ctx, newPhoto("survivor"))
	if err != nil {
		t.Fatal(err)
	}
	createCrashingAt(t, s, "file-committed", newPhoto("half"))
	// A write interrupted before its rename leaves a temp file.
	mustWrite(t, filepath.Join(dir, "tmp", "write-123"), "partial")

	// The crash left files behind but no metadata.
	leftovers := len(dirEntries(t, filepath.Join(dir, "tmp"))) + len(dirEntries(t, filepath.Join(dir, "originals")))
	if leftovers != 3 {
		t.Fatalf("expected the survivor plus two leftover files, found %d", leftovers)
	}
	if page, _, _ := s.List(ctx, 10, ""); len(page) != 1 {
		t.Fatalf("half-written photo visible before restart: %d listed", len(page))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	page, _, err := s.List(ctx, 10, "")
	if err != nil || len(page) != 1 || page[0].ID != kept.ID {
		t.Fatalf("after reopen List = %+v, %v; want only the survivor", page, err)
	}
	if names := dirEntries(t, filepath.Join(dir, "originals")); len(names) != 1 || names[0] != kept.ID {
		t.Fatalf("orphan not swept from originals: %v", names)
	}
	if names := dirEntries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("temp files not swept: %v", names)
	}
	// The interrupted upload can be retried and is stored for real.
	p, created, err := s.Create(ctx, newPhoto("half"))
	if err != nil || !created {
		t.Fatalf("retry after crash: created=%v err=%v", created, err)
	}
	if _, err := s.Get(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSweepsOrphansAndDanglingRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	kept, _, _ := s.Create(ctx, newPhoto("kept"))
	lost, _, _ := s.Create(ctx, newPhoto("lost"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Simulate damage: a stray file, an orphan thumbnail dir, and an original
	// that disappeared while its metadata stayed.
	mustWrite(t, filepath.Join(dir, "originals", "stray"), "x")
	mustWrite(t, filepath.Join(dir, "thumbnails", strings.Repeat("0", 26), "64.jpg"), "x")
	if err := os.Remove(filepath.Join(dir, "originals", lost.ID)); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	if _, err := s.Get(ctx, lost.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record without original still visible: %v", err)
	}
	if _, err := s.Get(ctx, kept.ID); err != nil {
		t.Fatalf("intact photo lost: %v", err)
	}
	if names := dirEntries(t, filepath.Join(dir, "originals")); len(names) != 1 || names[0] != kept.ID {
		t.Fatalf("originals after sweep: %v", names)
	}
	if names := dirEntries(t, filepath.Join(dir, "thumbnails")); len(names) != 0 {
		t.Fatalf("thumbnails after sweep: %v", names)
	}
	// The dangling record's hash index went too, so the bytes upload anew.
	if _, created, err := s.Create(ctx, newPhoto("lost")); err != nil || !created {
		t.Fatalf("re-upload after sweep: created=%v err=%v", created, err)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := embedded.Open(t.TempDir(), discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("open store not ready: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed store: Ready = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.Create(ctx, newPhoto("late")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Create after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentIdenticalUploadsStoreOnce(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	const n = 8
	type result struct {
		p       store.Photo
		created bool
		err     error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			p, created, err := s.Create(ctx, newPhoto("racing bytes"))
			results <- result{p, created, err}
		}()
	}
	ids := map[string]bool{}
	created := 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		ids[r.p.ID] = true
		if r.created {
			created++
		}
	}
	if len(ids) != 1 || created != 1 {
		t.Fatalf("%d distinct IDs, %d created; want 1 and 1", len(ids), created)
	}
	if names := dirEntries(t, filepath.Join(dir, "originals")); len(names) != 1 {
		t.Fatalf("losing uploads left files behind: %v", names)
	}
}
