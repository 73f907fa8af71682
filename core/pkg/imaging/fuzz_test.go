package imaging_test

import (
	"testing"

	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

// FuzzEstimateBoundsDecode mutates headers and chunk layouts (seeded from
// testdata/fuzz/FuzzEstimateBoundsDecode, one file per decoder path) and
// asserts what the table test does: whatever the decoder makes of a file
// that Inspect accepts, it holds no more than the estimate, whether the
// decode succeeds or fails.
func FuzzEstimateBoundsDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, err := imaging.DetectContentType(data)
		if err != nil {
			return
		}
		h, err := imaging.Inspect(data, ct)
		// Large frames are the table test's; here they would only slow the
		// search down.
		if err != nil || h.DecodeBytes > 4<<20 {
			return
		}
		if held, _, _ := peakHeld(data, ct); held > h.DecodeBytes {
			t.Fatalf("%v: decode held %d bytes, over the estimate of %d", h, held, h.DecodeBytes)
		}
	})
}
