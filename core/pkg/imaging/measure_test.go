package imaging_test

import (
	"bytes"
	"image"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

// Granularity of peakHeld: the decoder gets at most readStep bytes per
// read, and the heap is collected once it has grown by garbageStep.
const (
	readStep    = 64
	garbageStep = 64 << 10
)

// peakHeld decodes data of contentType with the real decoder and returns
// the most heap it held at once. The collector is off while it runs; the
// heap (runtime.MemStats.HeapAlloc) is sampled before each read of at most
// readStep bytes (what the decoder holds plus the garbage it made since
// the last collection) and once more after the decoder returns, with its
// image still held, and collected whenever it grew by garbageStep. The
// peak is therefore exact up to garbageStep plus the garbage of one read.
func peakHeld(data []byte, contentType string) (held int64, img image.Image, decodeErr error) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// Twice: sync.Pool caches survive one collection, and their release
	// during the decode would hide as much of what it allocates.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	read := func() uint64 {
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := read()
	peak, collected := base, base
	sample := func() {
		now := read()
		peak = max(peak, now)
		if now > collected+garbageStep {
			runtime.GC()
			collected = read()
		}
	}
	img, err := imaging.DecoderFor(contentType)(&sampledReader{r: bytes.NewReader(data), sample: sample})
	sample()
	return int64(peak - base), img, err
}

type sampledReader struct {
	r      io.Reader
	sample func()
}

func (s *sampledReader) Read(p []byte) (int, error) {
	s.sample()
	return s.r.Read(p[:min(len(p), readStep)])
}
