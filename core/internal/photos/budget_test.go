package photos_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/internal/photos"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
)

// testBudget holds a decode child's own 16 MiB (its runtime and slack)
// beside images of tens of MB.
const testBudget = 128 << 20

func budgetFixture(t *testing.T, wait time.Duration) *fixture {
	t.Helper()
	return newFixtureWith(t, photos.Limits{MaxUploadBytes: 8 << 20, DecodeMemory: testBudget, DecodeWait: wait})
}

// holdBudget makes the next decode stop while it holds its reservation,
// and returns a function that lets it go on. Later decodes pass.
func holdBudget(t *testing.T, f *fixture) (held <-chan struct{}, letGo func()) {
	t.Helper()
	heldCh, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	f.svc.SetReservedHook(func() {
		// Not sync.Once: its other callers would wait for the held one.
		if first.CompareAndSwap(false, true) {
			close(heldCh)
			<-release
		}
	})
	var letOnce sync.Once
	letGo = func() { letOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	return heldCh, letGo
}

func TestImageOverTheWholeBudgetIsRefusedWithoutDecoding(t *testing.T) {
	f := budgetFixture(t, time.Second)
	f.svc.SetReservedHook(func() { t.Error("an image over the budget must not reserve or decode") })
	// 3000×3000 progressive 4:4:4: 135 Mpx-bytes of coefficients and pixels.
	_, _, err := f.svc.Upload(ctx, "big.jpg", bytes.NewReader(imagetest.ProgressiveJPEG(3000, 3000, 1)))
	if !errors.Is(err, photos.ErrImageTooLarge) {
		t.Fatalf("err = %v, want ErrImageTooLarge", err)
	}
	for _, want := range []string{"3000×3000 progressive JPEG", "PIXIE_DECODE_MEMORY", "128 MiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d photos stored", n)
	}
}

func TestOverPixelCapIsImageTooLarge(t *testing.T) {
	f := budgetFixture(t, time.Second)
	_, _, err := f.svc.Upload(ctx, "wide.png", bytes.NewReader(imagetest.ZeroPNG(100_000_000, 1, 8, 0)))
	if !errors.Is(err, photos.ErrImageTooLarge) || !strings.Contains(err.Error(), "pixels") {
		t.Fatalf("err = %v, want ErrImageTooLarge naming the pixel cap", err)
	}
}

func TestFullBudgetMakesOthersWaitThenBusy(t *testing.T) {
	f := budgetFixture(t, 100*time.Millisecond)
	held, letGo := holdBudget(t, f)
	// RGBA PNGs of 64 and 48 MB, each with a child's 16 MiB: they cannot
	// both fit in 128 MiB.
	big := imagetest.ZeroPNG(4000, 3000, 8, 6)
	first := make(chan error, 1)
	go func() {
		_, _, err := f.svc.Upload(ctx, "first.png", bytes.NewReader(imagetest.ZeroPNG(4000, 4000, 8, 6)))
		first <- err
	}()
	<-held

	start := time.Now()
	_, _, err := f.svc.Upload(ctx, "second.png", bytes.NewReader(big))
	if !errors.Is(err, photos.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("gave up after %v, before the 100ms wait", waited)
	}
	// Small images still fit next to the held reservation.
	if _, _, err := f.svc.Upload(ctx, "small.png", bytes.NewReader(imagetest.PNG(64, 64, 1))); err != nil {
		t.Fatalf("small upload while the budget is partly held: %v", err)
	}
	letGo()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, created, err := f.svc.Upload(ctx, "second.png", bytes.NewReader(big)); err != nil || !created {
		t.Fatalf("retry after the budget freed: created=%v err=%v", created, err)
	}
}

func TestDedupeHappensBeforeAnyDecode(t *testing.T) {
	f := budgetFixture(t, 50*time.Millisecond)
	data := imagetest.ZeroPNG(4000, 3000, 8, 6)
	stored, _, err := f.svc.Upload(ctx, "a.png", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// With the whole budget held, a decode could only end in ErrBusy: the
	// identical upload must be answered from the hash alone.
	held, _ := holdBudget(t, f)
	go func() { _, _, _ = f.svc.Upload(ctx, "hog.png", bytes.NewReader(imagetest.ZeroPNG(4000, 3999, 8, 6))) }()
	<-held
	again, created, err := f.svc.Upload(ctx, "b.png", bytes.NewReader(data))
	if err != nil || created || again.ID != stored.ID {
		t.Fatalf("identical upload: %+v created=%v err=%v", again, created, err)
	}
}

func TestIdenticalUploadsInFlightDecodeOnce(t *testing.T) {
	f := budgetFixture(t, 10*time.Second)
	var decodes atomic.Int32
	waiting := make(chan struct{}, 3)
	f.svc.SetWaitingHook(func() { waiting <- struct{}{} })
	f.svc.SetReservedHook(func() {
		if decodes.Add(1) == 1 { // keep the first in flight until the others wait for it
			for range 3 {
				<-waiting
			}
		}
	})
	data := imagetest.ZeroPNG(2000, 1500, 8, 6)
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			p, created, err := f.svc.Upload(ctx, "same.png", bytes.NewReader(data))
			results[i] = result{p.ID, created, err}
		})
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		if r.err != nil || r.id != results[0].id {
			t.Fatalf("results %+v", results)
		}
		if r.created {
			created++
		}
	}
	if created != 1 || decodes.Load() != 1 {
		t.Fatalf("%d created, %d decodes; want 1 and 1", created, decodes.Load())
	}
}

func TestThumbnailOfPhotoDeletedWhileRenderingIsNotFoundAndLeavesNoFile(t *testing.T) {
	f := budgetFixture(t, time.Second)
	p, _, err := f.svc.Upload(ctx, "p.png", bytes.NewReader(imagetest.PNG(300, 200, 1)))
	if err != nil {
		t.Fatal(err)
	}
	held, letGo := holdBudget(t, f)
	rendered := make(chan error, 1)
	go func() {
		_, err := f.svc.Thumbnail(ctx, p.ID, 128)
		rendered <- err
	}()
	<-held // rendering, the original already read
	if err := f.svc.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	letGo()
	if err := <-rendered; !errors.Is(err, photos.ErrNotFound) {
		t.Fatalf("render of a deleted photo: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "thumbnails", p.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("thumbnail directory left behind: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(entries) != 0 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

// The bytes of uploads being received come out of the same budget, so many
// large uploads at once cannot exhaust memory before any decode starts.
func TestUploadBuffersDrawOnTheBudget(t *testing.T) {
	f := budgetFixture(t, 100*time.Millisecond)
	held, letGo := holdBudget(t, f)
	// 5184×5184 RGBA and its child: 124 MB of the 128 MiB budget.
	hogDone := make(chan error, 1)
	go func() {
		_, _, err := f.svc.Upload(ctx, "hog.png", bytes.NewReader(imagetest.ZeroPNG(5184, 5184, 8, 6)))
		hogDone <- err
	}()
	<-held
	// 6 MB cannot be buffered next to it; were it read, it would be refused
	// as not an image instead.
	_, _, err := f.svc.Upload(ctx, "big.bin", bytes.NewReader(bytes.Repeat([]byte("x"), 6<<20)))
	if !errors.Is(err, photos.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	letGo()
	if err := <-hogDone; err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Upload(ctx, "big.bin", bytes.NewReader(bytes.Repeat([]byte("x"), 6<<20)))
	if !errors.Is(err, photos.ErrUnsupportedType) {
		t.Fatalf("with the budget free: err = %v, want ErrUnsupportedType", err)
	}
}
