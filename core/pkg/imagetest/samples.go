package imagetest

import "fmt"

// Sample is a file for one decoder path.
type Sample struct {
	Name, ContentType string
	// Kind starts the imaging.Header.Kind it must have.
	Kind string
	Data []byte
}

// Samples has a file for every path of every decoder: JPEG frame types ×
// colour models × sampling factors; PNG colour types × depths, with and
// without tRNS, interlaced or not; GIF; WebP lossy, lossless, extended
// with and without alpha (and alpha compressed or not).
func Samples() []Sample {
	var out []Sample
	jpeg := func(name, kind string, s JPEGSpec) {
		s.Width, s.Height = 600, 400
		out = append(out, Sample{name, "image/jpeg", kind, s.Encode()})
	}
	for sof, frame := range map[byte]string{0xc0: "baseline", 0xc1: "extended", 0xc2: "progressive"} {
		kind := map[bool]string{false: "JPEG", true: "progressive JPEG"}[sof == 0xc2]
		jpeg(frame+" gray", kind, JPEGSpec{SOF: sof, IDs: []byte{1}, Sampling: []byte{0x22}, JFIF: true})
		for ratio, hv := range map[string]byte{"4:4:4": 0x11, "4:2:2": 0x21, "4:2:0": 0x22, "4:4:0": 0x12, "4:1:1": 0x41, "4:1:0": 0x42} {
			jpeg(frame+" YCbCr "+ratio, kind, JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3}, Sampling: []byte{hv, 0x11, 0x11}, JFIF: true})
		}
		jpeg(frame+" RGB by component names", kind+", converted", JPEGSpec{SOF: sof, IDs: []byte("RGB"), Sampling: []byte{0x11, 0x11, 0x11}})
		jpeg(frame+" RGB by Adobe transform", kind+", converted", JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}, Adobe: "unknown"})
		jpeg(frame+" CMYK", kind+", converted", JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3, 4}, Sampling: []byte{0x11, 0x11, 0x11, 0x11}, Adobe: "unknown"})
		jpeg(frame+" YCCK", kind+", converted", JPEGSpec{SOF: sof, IDs: []byte{1, 2, 3, 4}, Sampling: []byte{0x22, 0x11, 0x11, 0x22}, Adobe: "YCCK"})
	}
	out = append(out,
		Sample{"encoder's JPEG", "image/jpeg", "JPEG", JPEG(640, 480, 1)},
		Sample{"JPEG behind a decoy frame header", "image/jpeg", "progressive JPEG",
			DecoyJPEG(JPEGSpec{Width: 600, Height: 400, SOF: 0xc2, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}})},
	)

	depths := map[byte][]byte{0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
	for colorType, ds := range depths {
		for _, depth := range ds {
			for _, interlaced := range []bool{false, true} {
				for _, transparent := range []bool{false, true} {
					if transparent && colorType >= 4 {
						continue // tRNS is for grey, truecolour and paletted images
					}
					s := PNGSpec{Width: 300, Height: 200, Depth: depth, ColorType: colorType, Interlaced: interlaced, Transparent: transparent}
					name := fmt.Sprintf("PNG type %d depth %d interlaced %v tRNS %v", colorType, depth, interlaced, transparent)
					kind := map[bool]string{false: "PNG", true: "interlaced PNG"}[interlaced]
					out = append(out, Sample{name, "image/png", kind, s.Encode()})
				}
			}
		}
	}
	out = append(out, Sample{"encoder's PNG", "image/png", "PNG, RGBA", PNG(300, 200, 1)})

	out = append(out,
		Sample{"GIF", "image/gif", "GIF", FlatGIF(500, 400, 500, 400, 2)},
		Sample{"GIF, interlaced", "image/gif", "GIF", InterlacedGIF(500, 400, 500, 400)},
		Sample{"GIF, small frame", "image/gif", "GIF", FlatGIF(500, 400, 10, 10, 1)},
		Sample{"encoder's GIF", "image/gif", "GIF", GIF(300, 200, 1)},
	)

	w, h := WebPWidth, WebPHeight
	lossy := WebPFrame(WebP)
	rawAlpha := WebPChunk("ALPH", append([]byte{0}, make([]byte, w*h)...))
	packedAlpha := WebPChunk("ALPH", append([]byte{1}, LosslessBitstream(w, h)[5:]...))
	lossless := WebPChunk("VP8L", LosslessBitstream(w, h))
	out = append(out,
		Sample{"lossy WebP", "image/webp", "lossy WebP", WebP},
		Sample{"extended lossy WebP", "image/webp", "lossy WebP", WebPFile(VP8X(w, h, false), lossy)},
		Sample{"lossy WebP with alpha", "image/webp", "lossy WebP with alpha", WebPFile(VP8X(w, h, true), rawAlpha, lossy)},
		Sample{"lossy WebP with compressed alpha", "image/webp", "lossy WebP with compressed alpha", WebPFile(VP8X(w, h, true), packedAlpha, lossy)},
		Sample{"lossless WebP", "image/webp", "lossless WebP", LosslessWebP(w, h)},
		Sample{"extended lossless WebP without the alpha flag", "image/webp", "lossless WebP", WebPFile(VP8X(w, h, false), lossless)},
		Sample{"extended lossless WebP", "image/webp", "lossless WebP", WebPFile(VP8X(w, h, true), lossless)},
		Sample{"lossless WebP, colour-indexed", "image/webp", "lossless WebP", WebPFile(WebPChunk("VP8L", IndexedBitstream(1000, 700)))},
		Sample{"lossless WebP, a group of the largest prefix codes per tile", "image/webp", "lossless WebP", WebPFile(WebPChunk("VP8L", HuffmanGroupsBitstream(100, 100)))},
	)
	return out
}
