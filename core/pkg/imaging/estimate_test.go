package imaging_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/imaging"
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

// Decoders allocate from what a file declares before they find it broken:
// the estimate bounds those decodes too.
func TestEstimateBoundsDecodesThatFail(t *testing.T) {
	// A VP8 chunk that claims 15 MiB (vp8 copies its partitions as long as
	// the chunk says before reading them) in a file of a few kilobytes.
	lying := bytes.Clone(imagetest.WebP)
	binary.LittleEndian.PutUint32(lying[4:], 15<<20+4+8)
	binary.LittleEndian.PutUint32(lying[16:], 15<<20)
	jpeg := imagetest.ProgressiveJPEG(2000, 2000, 1)
	png := imagetest.ZeroPNG(2000, 2000, 8, 6)
	for name, tc := range map[string]struct {
		contentType string
		data        []byte
	}{
		"lossy WebP with a lying chunk length":      {"image/webp", lying},
		"progressive JPEG cut after its first scan": {"image/jpeg", jpeg[:len(jpeg)/2]},
		"RGBA PNG cut in its pixels":                {"image/png", png[:len(png)/2]},
	} {
		h, err := imaging.Inspect(tc.data, tc.contentType)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		held, _, err := peakHeld(tc.data, tc.contentType)
		if err == nil {
			t.Errorf("%s decoded", name)
		}
		t.Logf("%s (%v): estimate %d KiB, decode held %d KiB before %v", name, h, h.DecodeBytes>>10, held>>10, err)
		if held > h.DecodeBytes {
			t.Errorf("%s: decode held %d bytes, over the estimate of %d", name, held, h.DecodeBytes)
		}
	}
}
