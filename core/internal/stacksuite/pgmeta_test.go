package stacksuite

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pixie-photos/pixie/core/pkg/meta"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

var ctx = context.Background()

func openPG(t *testing.T, url string) *pgmeta.Store {
	t.Helper()
	pg, err := pgmeta.Open(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	return pg
}

func TestMigrationsApplyOnceAndAreCurrentAfter(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	pg := openPG(t, st.DatabaseURL)
	if v, err := pg.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}

	// Three processes starting together: the advisory lock lets one apply.
	var wg sync.WaitGroup
	results := make([]pgmeta.MigrateResult, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { results[i], errs[i] = openPG(t, st.DatabaseURL).Migrate(ctx, pgmeta.Migrations) })
	}
	wg.Wait()
	applied := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i].Version != len(pgmeta.Migrations) {
			t.Fatalf("version %d, want %d", results[i].Version, len(pgmeta.Migrations))
		}
		applied += results[i].Applied
	}
	if applied != len(pgmeta.Migrations) {
		t.Fatalf("%d migrations applied in all, want each once (%d)", applied, len(pgmeta.Migrations))
	}
	again, err := pg.Migrate(ctx, pgmeta.Migrations)
	if err != nil || again.Applied != 0 {
		t.Fatalf("second run: %+v, %v; want nothing to do", again, err)
	}
	if v, err := pg.SchemaVersion(ctx); err != nil || v != len(pgmeta.Migrations) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(pgmeta.Migrations))
	}
	var rows int
	if err := pgx.BeginFunc(ctx, mustConn(t, st.DatabaseURL), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&rows)
	}); err != nil || rows != len(pgmeta.Migrations) {
		t.Fatalf("schema_migrations has %d rows (%v)", rows, err)
	}
}

func TestFailingMigrationLeavesTheSchemaAsItWas(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	pg := openPG(t, st.DatabaseURL)
	ms, err := pgmeta.LoadMigrations(os.DirFS("testdata"), "failing")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pg.Migrate(ctx, ms)
	if err == nil || !strings.Contains(err.Error(), "migration 0002_broken failed (the schema stays at version 1)") {
		t.Fatalf("err = %v", err)
	}
	if res.Version != 1 || res.Applied != 1 {
		t.Fatalf("result %+v, want version 1 after one migration", res)
	}
	conn := mustConn(t, st.DatabaseURL)
	var halfDone, title bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('half_done') IS NOT NULL").Scan(&halfDone); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'photos' AND column_name = 'title')").Scan(&title); err != nil {
		t.Fatal(err)
	}
	if halfDone || title {
		t.Fatalf("a failed migration left changes: table half_done %v, column title %v", halfDone, title)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	pg := openPG(t, st.DatabaseURL)
	if _, err := pg.Migrate(ctx, pgmeta.Migrations); err != nil {
		t.Fatal(err)
	}
	_, err := pg.Migrate(ctx, pgmeta.Migrations[:0])
	if err == nil || !strings.Contains(err.Error(), "newer than this pixie-core knows (0): run a newer pixie-core") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmbeddedMigrationsAreWellFormed(t *testing.T) {
	if len(pgmeta.Migrations) == 0 || pgmeta.Migrations[0].Version != 1 {
		t.Fatalf("migrations = %+v", pgmeta.Migrations)
	}
}

func TestSameBytesOnManyConnectionsYieldOnePhoto(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	pg := openPG(t, st.DatabaseURL)
	if _, err := pg.Migrate(ctx, pgmeta.Migrations); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	stored := make([]meta.Photo, n)
	created := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			p := meta.Photo{ID: strings.Repeat("0", 25) + string("abcdefgh"[i]), Filename: "same.jpg", ContentType: "image/jpeg",
				Size: 3, SHA256: strings.Repeat("a", 64), Width: 1, Height: 1, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			var err error
			if stored[i], created[i], err = openPG(t, st.DatabaseURL).Create(ctx, p); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if created[i] {
			winners++
		}
		if stored[i].ID != stored[0].ID {
			t.Fatalf("photo %d is %s, photo 0 is %s", i, stored[i].ID, stored[0].ID)
		}
	}
	if winners != 1 {
		t.Fatalf("%d creations, want 1", winners)
	}
	pending, err := pg.OutboxPending(ctx)
	if err != nil || pending != 1 {
		t.Fatalf("outbox holds %d events (%v), want the one upload", pending, err)
	}
}

func TestThumbnailIndexRefusesDeletedPhotos(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	pg := openPG(t, st.DatabaseURL)
	if _, err := pg.Migrate(ctx, pgmeta.Migrations); err != nil {
		t.Fatal(err)
	}
	p := meta.Photo{ID: strings.Repeat("1", 26), SHA256: strings.Repeat("b", 64), CreatedAt: time.Now()}
	if _, _, err := pg.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := pg.AddThumbnail(ctx, p.ID, 256); err != nil {
		t.Fatal(err)
	}
	if err := pg.AddThumbnail(ctx, p.ID, 256); err != nil {
		t.Fatalf("recording a thumbnail twice: %v", err)
	}
	if err := pg.AddThumbnail(ctx, p.ID, 64); err != nil {
		t.Fatal(err)
	}
	if sizes, err := pg.Thumbnails(ctx, p.ID); err != nil || !slices.Equal(sizes, []int{64, 256}) {
		t.Fatalf("Thumbnails = %v, %v; want [64 256]", sizes, err)
	}
	if _, err := pg.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := pg.AddThumbnail(ctx, p.ID, 512); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("thumbnail of a deleted photo: %v, want ErrNotFound", err)
	}
	if sizes, err := pg.Thumbnails(ctx, p.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Thumbnails of a deleted photo = %v, %v; want ErrNotFound", sizes, err)
	}
	var left int
	if err := mustConn(t, st.DatabaseURL).QueryRow(ctx, "SELECT count(*) FROM thumbnails").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d thumbnail rows left (%v)", left, err)
	}
}

func mustConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn
}
