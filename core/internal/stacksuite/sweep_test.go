package stacksuite

import (
	"slices"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
	"github.com/pixie-photos/pixie/core/pkg/store"
)

// stackStore is the stack's store without the relay: Postgres and S3.
func stackStore(t *testing.T, st stacktest.Stack) (*store.Store, *pgmeta.Store) {
	t.Helper()
	pg := openPG(t, st.DatabaseURL)
	if _, err := pg.Migrate(ctx, pgmeta.Migrations); err != nil {
		t.Fatal(err)
	}
	return store.New(pg, openS3(t, st, 0), store.Options{Timeout: 5 * time.Second}), pg
}

func TestSweepRemovesOnlyUnreferencedObjectsPastTheGrace(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s, _ := stackStore(t, st)
	blobs := openS3(t, st, 0)

	kept, _, err := s.Create(ctx, store.NewPhoto{Filename: "k.png", ContentType: "image/png", Width: 8, Height: 8, Data: imagetest.PNG(8, 8, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutThumbnail(ctx, kept.ID, 64, []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	gone, _, err := s.Create(ctx, store.NewPhoto{Filename: "g.png", ContentType: "image/png", Width: 8, Height: 8, Data: imagetest.PNG(8, 8, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// What crashes leave: an original without metadata (an upload that
	// died before its commit), thumbnails of a photo deleted meanwhile.
	orphan := "06h00000000000000000000000"
	for _, key := range []string{blob.OriginalKey(orphan), blob.ThumbnailKey(gone.ID, 128)} {
		if err := blobs.Put(ctx, key, []byte("x"), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Put(ctx, blob.ThumbnailKey(gone.ID, 256), []byte("x"), "image/jpeg"); err != nil {
		t.Fatal(err) // rendered while the delete ran
	}

	res, err := s.Sweep(ctx, store.SweepOptions{Grace: time.Hour})
	if err != nil || res.Orphans != 0 {
		t.Fatalf("within the grace: %v, %v; want nothing removed", res, err)
	}
	res, err = s.Sweep(ctx, store.SweepOptions{})
	if err != nil || res.Orphans != 2 {
		t.Fatalf("sweep: %v, %v; want the orphan original and the deleted photo's thumbnails", res, err)
	}
	keys := st.ObjectKeys(t)
	slices.Sort(keys)
	if want := []string{blob.OriginalKey(kept.ID), blob.ThumbnailKey(kept.ID, 64)}; !slices.Equal(keys, want) {
		t.Fatalf("left %v, want %v", keys, want)
	}
}

func TestSweepNeverDropsMetadataOnTheStack(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s, _ := stackStore(t, st)
	p, _, err := s.Create(ctx, store.NewPhoto{Filename: "p.png", ContentType: "image/png", Width: 8, Height: 8, Data: imagetest.PNG(8, 8, 3)})
	if err != nil {
		t.Fatal(err)
	}
	// A bucket that lost the object (or a wrong bucket): the photo stays.
	if err := openS3(t, st, 0).Delete(ctx, blob.OriginalKey(p.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx, store.SweepOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, p.ID); err != nil {
		t.Fatalf("photo dropped by the sweep: %v", err)
	}
}
