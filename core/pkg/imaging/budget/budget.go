// Package budget bounds the memory that decoding images takes in a
// process, whatever the files claim. One Budget holds a number of bytes
// shared by every decode (and by the buffers that feed them); each decode
// reserves what imaging.Inspect estimates before it starts, and waits, or
// is refused, when the budget cannot hold it.
//
// The estimate is not trusted alone: every decode runs in a child process
// (this binary, started again) whose data segment is capped by the kernel
// (RLIMIT_DATA) at its reservation. A file that makes the decoder allocate
// more than its reservation kills only that child, and its decode fails
// with ErrTooLarge. A binary that imports this package serves as its own
// decode child: see child.go.
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

var (
	// ErrTooLarge means the image never fits: over the pixel cap, over the
	// whole budget, or it needed more memory than its reservation.
	ErrTooLarge = errors.New("image too large to decode")
	// ErrBusy means the budget stayed full for the whole wait.
	ErrBusy = errors.New("busy decoding other images")
)

// Options configure a Budget.
type Options struct {
	// Bytes is the memory shared by every decode and buffer at once.
	Bytes int64
	// Wait is how long a decode or buffer queues for budget before ErrBusy.
	Wait time.Duration
	// Logger gets a debug line per decode and a warning when a decode
	// exceeds its reservation. Nil discards.
	Logger *slog.Logger
	// Reserved, when set (by tests), runs while a decode holds its
	// reservation, before its child starts.
	Reserved func()
}

// Budget is safe for concurrent use.
type Budget struct {
	opts Options
	sem  *semaphore.Weighted
}

// New returns a Budget of opts.Bytes.
func New(opts Options) *Budget {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Budget{opts: opts, sem: semaphore.NewWeighted(opts.Bytes)}
}

// Bytes is the size of the budget.
func (b *Budget) Bytes() int64 { return b.opts.Bytes }

// Acquire takes n bytes for a buffer, waiting at most Options.Wait; the
// caller must call release once the buffer is dead.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if n > b.opts.Bytes {
		return nil, fmt.Errorf("%w: %d MiB is more than the whole decode budget of %d MiB (PIXIE_DECODE_MEMORY)",
			ErrTooLarge, mib(n), mib(b.opts.Bytes))
	}
	wait, cancel := context.WithTimeout(ctx, b.opts.Wait)
	defer cancel()
	if err := b.sem.Acquire(wait, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: the decode budget stayed full for %v; retry later", ErrBusy, b.opts.Wait)
	}
	return func() { b.sem.Release(n) }, nil
}

// Check fully decodes data, which proves it is a complete image, and
// returns its header. The caller already holds held bytes of the budget
// (data's buffer); they count against the whole budget, not again.
func (b *Budget) Check(ctx context.Context, data []byte, contentType string, held int64) (imaging.Header, error) {
	h, err := header(data, contentType)
	if err != nil {
		return h, err
	}
	_, err = b.run(ctx, job{Op: opCheck, ContentType: contentType}, h, data, h.DecodeBytes, held)
	return h, err
}

// Thumbnail decodes data and renders a JPEG whose longest side is at most
// size, as imaging.ThumbnailJPEG does.
func (b *Budget) Thumbnail(ctx context.Context, data []byte, contentType string, size int) ([]byte, error) {
	h, err := header(data, contentType)
	if err != nil {
		return nil, err
	}
	cost := h.DecodeBytes + imaging.ThumbnailBytes(h.Width, h.Height, size)
	return b.run(ctx, job{Op: opThumbnail, ContentType: contentType, Size: size}, h, data, cost, 0)
}

func header(data []byte, contentType string) (imaging.Header, error) {
	h, err := imaging.Inspect(data, contentType)
	if errors.Is(err, imaging.ErrTooManyPixels) {
		return h, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return h, err
}

// run reserves what the child may map for cost bytes of decoding data of
// h, runs it and releases the reservation once the child has exited.
func (b *Budget) run(ctx context.Context, j job, h imaging.Header, data []byte, cost, held int64) ([]byte, error) {
	j.Heap = childHeap(cost, len(data))
	reserve := j.Heap + childProcess
	if reserve+held > b.opts.Bytes {
		return nil, fmt.Errorf("%w: a %v needs about %d MiB to decode, more than the whole decode budget of %d MiB (PIXIE_DECODE_MEMORY)",
			ErrTooLarge, h, mib(reserve+held), mib(b.opts.Bytes))
	}
	release, err := b.Acquire(ctx, reserve)
	if err != nil {
		return nil, err
	}
	defer release()
	if b.opts.Reserved != nil {
		b.opts.Reserved()
	}
	start := time.Now()
	res, err := runChild(ctx, j, data)
	log := []any{
		slog.String("op", j.Op), slog.String("image", h.String()), slog.Int64("estimate", cost),
		slog.Int64("reserved", reserve), slog.Int64("child_peak_rss", res.peakRSS),
		slog.Duration("took", time.Since(start)),
	}
	if errors.Is(err, errChildMemory) {
		b.opts.Logger.WarnContext(ctx, "decode exceeded its reservation; its estimate is wrong", append(log, slog.Any("error", err))...)
		return nil, fmt.Errorf("%w: decoding this %v needed more than the %d MiB reserved for it", ErrTooLarge, h, mib(reserve))
	}
	b.opts.Logger.DebugContext(ctx, "image decode", log...)
	return res.out, err
}

func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }
