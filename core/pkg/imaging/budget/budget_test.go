package budget

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

var ctx = context.Background()

func newBudget(bytes int64) *Budget {
	return New(Options{Bytes: bytes, Wait: 100 * time.Millisecond})
}

// Every decoder path decodes in a real child capped at its reservation:
// the estimate and the slack are enough for the runtime too.
func TestEveryDecoderPathDecodesWithinItsReservation(t *testing.T) {
	b := newBudget(512 << 20)
	for _, s := range imagetest.Samples() {
		h, err := b.Check(ctx, s.Data, s.ContentType, 0)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if h.Width <= 0 || !strings.HasPrefix(h.Kind, s.Kind) {
			t.Errorf("%s: header %v", s.Name, h)
		}
	}
}

// The backstop: a decode that allocates more than its child may map is
// stopped by the kernel before it holds the image, whatever the estimate.
func TestChildIsStoppedAtItsLimit(t *testing.T) {
	// 6000×6000 RGBA: the decoder allocates 144 MB at once.
	data := imagetest.ZeroPNG(6000, 6000, 8, 6)
	const heap = 16 << 20
	res, err := runChild(ctx, job{Op: opCheck, ContentType: "image/png", Heap: heap}, data)
	if !errors.Is(err, errChildMemory) {
		t.Fatalf("err = %v, want the child out of memory", err)
	}
	t.Logf("child stopped with peak RSS %d MiB: %v", res.peakRSS>>20, err)
	if res.peakRSS > raceShadow*heap+mapSlack+childProcess {
		t.Fatalf("child peak RSS %d MiB, over its limit", res.peakRSS>>20)
	}

	// Through a Budget whose estimate is wrong: the upload is refused, and
	// the error says what happened.
	h, err := imaging.Inspect(data, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newBudget(512<<20).run(ctx, job{Op: opCheck, ContentType: "image/png"}, h, data, 1<<20, 0)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "needed more than the") {
		t.Fatalf("err = %v, want ErrTooLarge saying the reservation was not enough", err)
	}
}

// An image whose estimate is over the whole budget is refused before any
// child starts; one that fits waits, then is busy.
func TestOverTheBudgetAndBusy(t *testing.T) {
	b := New(Options{Bytes: 64 << 20, Wait: 50 * time.Millisecond, Reserved: func() { t.Error("nothing may be decoded") }})
	_, err := b.Check(ctx, imagetest.ProgressiveJPEG(3000, 3000, 1), "image/jpeg", 0)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "3000×3000 progressive JPEG needs about") {
		t.Fatalf("err = %v, want ErrTooLarge naming the image", err)
	}
	_, err = b.Check(ctx, imagetest.ZeroPNG(100_000_000, 1, 8, 0), "image/png", 0)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, imaging.ErrTooManyPixels) {
		t.Fatalf("err = %v, want ErrTooLarge for the pixel cap", err)
	}
	release, err := b.Acquire(ctx, 60<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	start := time.Now()
	_, err = b.Check(ctx, imagetest.PNG(64, 64, 1), "image/png", 0)
	if !errors.Is(err, ErrBusy) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("err = %v after %v, want ErrBusy after the 50ms wait", err, time.Since(start))
	}
}

func TestThumbnailIsRenderedInTheChild(t *testing.T) {
	out, err := newBudget(512<<20).Thumbnail(ctx, imagetest.PNG(600, 400, 1), "image/png", 128)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 128 || b.Dy() != 85 {
		t.Fatalf("thumbnail is %v, want 128×85", b)
	}
}

func TestCorruptImageIsCorrupt(t *testing.T) {
	data := imagetest.PNG(64, 64, 1)
	_, err := newBudget(512<<20).Check(ctx, data[:len(data)*2/3], "image/png", 0)
	if !errors.Is(err, imaging.ErrCorrupt) {
		t.Fatalf("err = %v, want imaging.ErrCorrupt from the child", err)
	}
}

// A cancelled request stops its decode: the child is never left behind.
func TestCancelledDecodeEnds(t *testing.T) {
	cctx, cancel := context.WithCancel(ctx)
	b := New(Options{Bytes: 512 << 20, Wait: time.Second, Reserved: cancel})
	if _, err := b.Check(cctx, imagetest.PNG(64, 64, 1), "image/png", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
