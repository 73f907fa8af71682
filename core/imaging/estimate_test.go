package imaging_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/imaging"
	"github.com/pixie-photos/pixie/core/internal/imagetest"
)

// The decode budget trusts Inspect's estimate, so it must bound what the
// real decoder holds, measured on every path.
func TestEstimateBoundsEveryDecoderPath(t *testing.T) {
	for _, s := range imagetest.Samples() {
		t.Run(s.Name, func(t *testing.T) {
			h, err := imaging.Inspect(s.Data, s.ContentType)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h.Kind, s.Kind) {
				t.Errorf("Kind = %q, want %q", h.Kind, s.Kind)
			}
			held, img, err := peakHeld(s.Data, s.ContentType)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// For PNG the kind names the image type the decoder returns.
			if typ := fmt.Sprintf("%T", img); s.ContentType == "image/png" && !strings.HasSuffix(h.Kind, ", "+strings.TrimPrefix(typ, "*image.")) {
				t.Errorf("Kind = %q, but the decoder returned %s", h.Kind, typ)
			}
			t.Logf("%v: estimate %d KiB, decode held %d KiB", h, h.DecodeBytes>>10, held>>10)
			if held > h.DecodeBytes {
				t.Errorf("decode held %d bytes, over the estimate of %d", held, h.DecodeBytes)
			}
		})
	}
}
