package imaging_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pixie-photos/pixie/core/imaging"
	"github.com/pixie-photos/pixie/core/internal/imagetest"
)

type sample struct {
	name, contentType, kind string
	data                    []byte
}

// samples has a file for every path of every decoder: JPEG frame types ×
// colour models × sampling factors; PNG colour types × depths, with and
// without tRNS, interlaced or not; GIF; WebP lossy, lossless, extended
// with and without alpha (and alpha compressed or not).
func samples() []sample {
	var out []sample
	jpeg := func(name, kind string, s imagetest.JPEGSpec) {
		s.Width, s.Height = 600, 400
		out = append(out, sample{name, "image/jpeg", kind, s.Encode()})
	}
	for sof, frame := range map[byte]string{0xc0: "baseline", 0xc1: "extended", 0xc2: "progressive"} {
		kind := map[bool]string{false: "JPEG", true: "progressive JPEG"}[sof == 0xc2]
		jpeg(frame+" gray", kind, imagetest.JPEGSpec{SOF: sof, IDs: []byte{1}, Sampling: []byte{0x22}, JFIF: true})
		for ratio, hv := range map[string]byte{"4:4:4": 0x11, "4:2:2": 0x21, "4:2:0": 0x22, "4:4:0": 0x12, "4:1:1": 0x41, "4:1:0": 0x42} {
			jpeg(frame+" YCbCr "+ratio, kind, imagetest.JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3}, Sampling: []byte{hv, 0x11, 0x11}, JFIF: true})
		}
		jpeg(frame+" RGB by component names", kind+", converted", imagetest.JPEGSpec{SOF: sof, IDs: []byte("RGB"), Sampling: []byte{0x11, 0x11, 0x11}})
		jpeg(frame+" RGB by Adobe transform", kind+", converted", imagetest.JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}, Adobe: "unknown"})
		jpeg(frame+" CMYK", kind+", converted", imagetest.JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3, 4}, Sampling: []byte{0x11, 0x11, 0x11, 0x11}, Adobe: "unknown"})
		jpeg(frame+" YCCK", kind+", converted", imagetest.JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3, 4}, Sampling: []byte{0x22, 0x11, 0x11, 0x22}, Adobe: "YCCK"})
	}
	out = append(out,
		sample{"encoder's JPEG", "image/jpeg", "JPEG", imagetest.JPEG(640, 480, 1)},
		sample{"JPEG behind a decoy frame header", "image/jpeg", "progressive JPEG",
			imagetest.DecoyJPEG(imagetest.JPEGSpec{Width: 600, Height: 400, SOF: 0xc2, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}})},
	)

	depths := map[byte][]byte{0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
	for colorType, ds := range depths {
		for _, depth := range ds {
			for _, interlaced := range []bool{false, true} {
				for _, transparent := range []bool{false, true} {
					if transparent && colorType >= 4 {
						continue // tRNS is for grey, truecolour and paletted images
					}
					s := imagetest.PNGSpec{Width: 300, Height: 200, Depth: depth, ColorType: colorType, Interlaced: interlaced, Transparent: transparent}
					name := fmt.Sprintf("PNG type %d depth %d interlaced %v tRNS %v", colorType, depth, interlaced, transparent)
					kind := map[bool]string{false: "PNG", true: "interlaced PNG"}[interlaced]
					out = append(out, sample{name, "image/png", kind, s.Encode()})
				}
			}
		}
	}
	out = append(out, sample{"encoder's PNG", "image/png", "PNG, RGBA", imagetest.PNG(300, 200, 1)})

	out = append(out,
		sample{"GIF", "image/gif", "GIF", imagetest.FlatGIF(500, 400, 500, 400, 2)},
		sample{"GIF, interlaced", "image/gif", "GIF", imagetest.InterlacedGIF(500, 400, 500, 400)},
		sample{"GIF, small frame", "image/gif", "GIF", imagetest.FlatGIF(500, 400, 10, 10, 1)},
		sample{"encoder's GIF", "image/gif", "GIF", imagetest.GIF(300, 200, 1)},
	)

	w, h := imagetest.WebPWidth, imagetest.WebPHeight
	lossy := imagetest.WebPFrame(imagetest.WebP)
	rawAlpha := imagetest.WebPChunk("ALPH", append([]byte{0}, make([]byte, w*h)...))
	packedAlpha := imagetest.WebPChunk("ALPH", append([]byte{1}, imagetest.LosslessBitstream(w, h)[5:]...))
	lossless := imagetest.WebPChunk("VP8L", imagetest.LosslessBitstream(w, h))
	out = append(out,
		sample{"lossy WebP", "image/webp", "lossy WebP", imagetest.WebP},
		sample{"extended lossy WebP", "image/webp", "lossy WebP", imagetest.WebPFile(imagetest.VP8X(w, h, false), lossy)},
		sample{"lossy WebP with alpha", "image/webp", "lossy WebP with alpha", imagetest.WebPFile(imagetest.VP8X(w, h, true), rawAlpha, lossy)},
		sample{"lossy WebP with compressed alpha", "image/webp", "lossy WebP with compressed alpha", imagetest.WebPFile(imagetest.VP8X(w, h, true), packedAlpha, lossy)},
		sample{"lossless WebP", "image/webp", "lossless WebP", imagetest.LosslessWebP(w, h)},
		sample{"extended lossless WebP without the alpha flag", "image/webp", "lossless WebP", imagetest.WebPFile(imagetest.VP8X(w, h, false), lossless)},
		sample{"extended lossless WebP", "image/webp", "lossless WebP", imagetest.WebPFile(imagetest.VP8X(w, h, true), lossless)},
		sample{"lossless WebP, colour-indexed", "image/webp", "lossless WebP", imagetest.WebPFile(imagetest.WebPChunk("VP8L", imagetest.IndexedBitstream(1000, 700)))},
	)
	return out
}

// The decode budget trusts Inspect's estimate, so it must bound what the
// real decoder holds, measured on every path.
func TestEstimateBoundsEveryDecoderPath(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			h, err := imaging.Inspect(s.data, s.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h.Kind, s.kind) {
				t.Errorf("Kind = %q, want %q", h.Kind, s.kind)
			}
			held, img, err := peakHeld(s.data, s.contentType)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// For PNG the kind names the image type the decoder returns.
			if typ := fmt.Sprintf("%T", img); s.contentType == "image/png" && !strings.HasSuffix(h.Kind, ", "+strings.TrimPrefix(typ, "*image.")) {
				t.Errorf("Kind = %q, but the decoder returned %s", h.Kind, typ)
			}
			t.Logf("%v: estimate %d KiB, decode held %d KiB", h, h.DecodeBytes>>10, held>>10)
			if held > h.DecodeBytes {
				t.Errorf("decode held %d bytes, over the estimate of %d", held, h.DecodeBytes)
			}
		})
	}
}
