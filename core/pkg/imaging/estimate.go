package imaging

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"

	"golang.org/x/image/riff"
)

// Header is what an image declares before any pixel is decoded.
type Header struct {
	Width, Height int
	// DecodeBytes bounds, from above, the heap that decoding the file holds
	// at once: the decoder's own allocations, by the table below.
	DecodeBytes int64
	// Kind names the decoder path, e.g. "progressive JPEG".
	Kind string
}

func (h Header) String() string { return fmt.Sprintf("%d×%d %s", h.Width, h.Height, h.Kind) }

// A cost is what one decoder path allocates at most:
//
//	sample×samples + pixel×width×height + row×rowBytes + block×macroblocks
//	  + tile×tiles + group×groups + chunk×chunkBytes + fixed
//
// where the units of the frame are counted by the format's reader below.
type cost struct {
	sample int64 // per sample of the padded planes (JPEG components, VP8 4:2:0)
	pixel  int64 // per pixel of the image
	row    int64 // per byte of one raw scanline (PNG)
	block  int64 // per 16×16 macroblock (VP8)
	tile   int64 // per 4×4 tile (VP8L transform and entropy images)
	group  int64 // per Huffman group the image can hold (VP8L)
	chunk  int64 // per byte the image chunk declares (VP8 partitions)
	fixed  int64 // decoder state, tables, readers, size-class rounding
}

// frame is what the decoder reads before it allocates: the units of a cost.
type frame struct {
	width, height, samples, rowBytes  int64
	blocks, tiles, groups, chunkBytes int64
}

func (c cost) bytes(f frame) int64 {
	return c.sample*f.samples + c.pixel*f.width*f.height + c.row*f.rowBytes + c.block*f.blocks +
		c.tile*f.tiles + c.group*f.groups + c.chunk*f.chunkBytes + c.fixed
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// costs is the table the decode budget trusts: for each path a decoder can
// take, chosen by what the decoder itself reads from the file, the most it
// holds at once (image/jpeg, image/png, image/gif of Go 1.26;
// golang.org/x/image/webp, vp8, vp8l). estimate_test.go measures real
// decodes of every path against it and the fuzz target mutates headers
// and chunk layouts; the decode child's hard memory limit (package budget)
// is the backstop for whatever they miss.
var costs = map[string]cost{
	// makeImg: one byte per sample of the MCU-padded planes (and of the K
	// plane of 4-component files); the decoder with its Huffman tables.
	"JPEG": {sample: 1, fixed: 64 * kib},
	// processSOS: every component's coefficients, kept as int32 blocks for
	// later scans to refine: 4 bytes per sample on top of the planes.
	"progressive JPEG": {sample: 1 + 4, fixed: 64 * kib},
	// applyBlack (4 components) and convertToRGB (3 components named R, G,
	// B, or an Adobe transform 0) copy the planes into 4 bytes per pixel.
	"JPEG, converted":             {sample: 1, pixel: 4, fixed: 64 * kib},
	"progressive JPEG, converted": {sample: 1 + 4, pixel: 4, fixed: 64 * kib},

	// readImagePass: the image of the type named, and two scanlines; zlib's
	// window and Huffman tables, the link tables each dynamic block
	// rebuilds, and the palette.
	"PNG, Gray":     {pixel: 1, row: 2, fixed: 512 * kib},
	"PNG, Paletted": {pixel: 1, row: 2, fixed: 512 * kib},
	"PNG, Gray16":   {pixel: 2, row: 2, fixed: 512 * kib},
	"PNG, RGBA":     {pixel: 4, row: 2, fixed: 512 * kib},
	"PNG, NRGBA":    {pixel: 4, row: 2, fixed: 512 * kib},
	"PNG, RGBA64":   {pixel: 8, row: 2, fixed: 512 * kib},
	"PNG, NRGBA64":  {pixel: 8, row: 2, fixed: 512 * kib},
	// Adam7: the full image, then each of seven passes in its own image
	// (together as many pixels again) with its own two scanlines.
	"interlaced PNG, Gray":     {pixel: 2 * 1, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, Paletted": {pixel: 2 * 1, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, Gray16":   {pixel: 2 * 2, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, RGBA":     {pixel: 2 * 4, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, NRGBA":    {pixel: 2 * 4, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, RGBA64":   {pixel: 2 * 8, row: 7 * 2, fixed: 512 * kib},
	"interlaced PNG, NRGBA64":  {pixel: 2 * 8, row: 7 * 2, fixed: 512 * kib},

	// The first frame, within the logical screen, and its reordered copy if
	// it is interlaced; LZW and colour tables.
	"GIF": {pixel: 2, fixed: 128 * kib},

	// vp8: the 4:2:0 planes padded to macroblocks, each macroblock's filter
	// parameters (4 bytes, 8 for the column above), and copies of the first
	// and token partitions as long as the chunk declares (vp8 caps them at
	// 8×16 MiB).
	"lossy WebP": {sample: 1, block: 5 + 8, chunk: 1, fixed: 640 * kib},
	// vp8l: the ARGB pixels and, after colour indexing that packs pixels,
	// the unpacked copy (4 + 4/2 bytes, and 4 per row); the predictor,
	// cross-colour and entropy images (4 bytes per tile each); the Huffman
	// trees, up to 2600 groups of five (of up to 2328 symbols with a colour
	// cache) in the main image and one group per sub-image; colour caches,
	// readers and the trees' scratch.
	"lossless WebP": {pixel: 4 + 2, tile: 3 * 4, group: 56 * kib, fixed: 1 * mib},
}

// Inspect reads only the header of data: dimensions, checked against
// MaxPixels, the decoder path and the most memory that path can take.
func Inspect(data []byte, contentType string) (Header, error) {
	f, ok := formats[contentType]
	if !ok {
		return Header{}, fmt.Errorf("%w: %s", ErrUnsupported, contentType)
	}
	cfg, err := f.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Header{}, fmt.Errorf("%w: empty %dx%d image", ErrCorrupt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Header{}, fmt.Errorf("%w: %dx%d exceeds %d pixels", ErrTooManyPixels, cfg.Width, cfg.Height, MaxPixels)
	}
	h := Header{Width: cfg.Width, Height: cfg.Height}
	switch contentType {
	case "image/jpeg":
		h.DecodeBytes, h.Kind, err = jpegCost(data, cfg)
	case "image/png":
		h.DecodeBytes, h.Kind = pngCost(data, cfg)
	case "image/gif":
		h.DecodeBytes, h.Kind = costs["GIF"].bytes(frameOf(cfg)), "GIF"
	case "image/webp":
		h.DecodeBytes, h.Kind = webpCost(data, cfg)
	}
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

func frameOf(cfg image.Config) frame {
	return frame{width: int64(cfg.Width), height: int64(cfg.Height)}
}

// jpegCost costs every frame header in data that image/jpeg could be
// reading for this config (SOF0, SOF1 or SOF2 with the same size and
// component count) and keeps the dearest. The decoder reads exactly one
// such header, whose bytes are therefore among them; a decoy only raises
// the cost. Walking the markers instead would be a second parser that an
// attacker can steer away from the one image/jpeg follows.
func jpegCost(data []byte, cfg image.Config) (int64, string, error) {
	comps := 0
	switch cfg.ColorModel {
	case color.GrayModel:
		comps = 1
	case color.YCbCrModel, color.RGBAModel:
		comps = 3
	case color.CMYKModel:
		comps = 4
	}
	n := 6 + 3*comps // SOF payload
	adobe := comps == 3 && adobeUnknown(data)
	var best int64
	kind := ""
	for i := 0; ; i++ {
		j := bytes.IndexByte(data[i:], 0xff)
		if j < 0 || i+j+4+n > len(data) {
			break
		}
		i += j
		if marker := data[i+1]; marker < 0xc0 || marker > 0xc2 {
			continue
		}
		seg := data[i+2 : i+4+n]
		if int(binary.BigEndian.Uint16(seg)) != n+2 || seg[2] != 8 || seg[7] != byte(comps) ||
			int(binary.BigEndian.Uint16(seg[3:])) != cfg.Height || int(binary.BigEndian.Uint16(seg[5:])) != cfg.Width {
			continue
		}
		progressive := data[i+1] == 0xc2
		converted := comps == 4 || adobe || comps == 3 && bytes.Equal([]byte{seg[8], seg[11], seg[14]}, []byte("RGB"))
		name := "JPEG"
		if progressive {
			name = "progressive JPEG"
		}
		if converted {
			name += ", converted"
		}
		f := frameOf(cfg)
		f.samples = jpegSamples(seg[8:], comps, f.width, f.height)
		if c := costs[name].bytes(f); c > best {
			best, kind = c, name
		}
	}
	if kind == "" {
		return 0, "", fmt.Errorf("%w: no frame header matches the %dx%d image", ErrCorrupt, cfg.Width, cfg.Height)
	}
	return best, kind, nil
}

// jpegSamples counts the samples of every component's plane, padded to
// whole MCUs as image/jpeg allocates them. Sampling factors outside 1..4
// (which image/jpeg refuses) are clamped so that a decoy costs something.
func jpegSamples(comps []byte, n int, w, h int64) int64 {
	hv := func(c int) (int64, int64) {
		b := comps[3*c+1]
		return min(4, max(1, int64(b>>4))), min(4, max(1, int64(b&0x0f)))
	}
	if n == 1 { // a single component is never interleaved: 8×8 MCUs
		return ((w + 7) / 8 * 8) * ((h + 7) / 8 * 8)
	}
	h0, v0 := hv(0)
	mxx, myy := (w+8*h0-1)/(8*h0), (h+8*v0-1)/(8*v0)
	var samples int64
	for c := range n {
		hc, vc := hv(c)
		samples += 64 * mxx * myy * hc * vc
	}
	return samples
}

// adobeUnknown reports whether data holds an Adobe APP14 segment with
// transform 0, which makes image/jpeg convert 3-component files to RGBA
// wherever the segment comes, even after the first scan.
func adobeUnknown(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("Adobe"))
		if j < 0 {
			return false
		}
		i += j
		if i >= 4 && data[i-4] == 0xff && data[i-3] == 0xee && i+11 < len(data) && data[i+11] == 0 {
			return true
		}
		i++
	}
}

// pngCost reads the IHDR fields at their fixed place (image/png refuses a
// file whose first chunk is not IHDR) and assumes a tRNS chunk, which turns
// grey and truecolour into NRGBA, wherever the bytes "tRNS" occur.
func pngCost(data []byte, cfg image.Config) (int64, string) {
	depth, colorType, interlaced := int64(data[24]), data[25], data[28] == 1
	transparent := bytes.Contains(data, []byte("tRNS"))
	wide := depth == 16
	var channels int64
	var typ string
	switch colorType {
	case 0:
		channels, typ = 1, map[bool]string{false: "Gray", true: "Gray16"}[wide]
		if transparent {
			typ = map[bool]string{false: "NRGBA", true: "NRGBA64"}[wide]
		}
	case 2:
		channels, typ = 3, map[bool]string{false: "RGBA", true: "RGBA64"}[wide]
		if transparent {
			typ = map[bool]string{false: "NRGBA", true: "NRGBA64"}[wide]
		}
	case 3:
		channels, typ = 1, "Paletted"
	case 4:
		channels, typ = 2, map[bool]string{false: "NRGBA", true: "NRGBA64"}[wide]
	default: // 6; DecodeConfig refuses other types
		channels, typ = 4, map[bool]string{false: "NRGBA", true: "NRGBA64"}[wide]
	}
	kind := "PNG, " + typ
	if interlaced {
		kind = "interlaced " + kind
	}
	f := frameOf(cfg)
	f.rowBytes = 1 + (channels*depth*f.width+7)/8
	return costs[kind].bytes(f), kind
}

// vp8lGroups is vp8l's cap on the Huffman groups of one image.
const vp8lGroups = 2600

// webpCost follows the chunks as x/image/webp does, with the same RIFF
// reader: the first VP8 or VP8L chunk selects the decoder, and an ALPH
// chunk before it (VP8X with the alpha flag) is decoded on its own.
func webpCost(data []byte, cfg image.Config) (int64, string) {
	f := frameOf(cfg)
	var total int64
	kind := "WebP"
	_, chunks, err := riff.NewReader(bytes.NewReader(data))
	wantAlpha := false
	for err == nil {
		var id riff.FourCC
		var length uint32
		var body io.Reader
		id, length, body, err = chunks.Next()
		if err != nil {
			break
		}
		switch string(id[:]) {
		case "VP8X":
			var b [1]byte
			_, err = io.ReadFull(body, b[:])
			wantAlpha = b[0]&0x10 != 0
		case "ALPH":
			if !wantAlpha {
				return total, kind
			}
			wantAlpha = false
			var b [1]byte
			if _, err = io.ReadFull(body, b[:]); err != nil {
				break
			}
			total += f.width * f.height
			kind = "WebP with alpha"
			if b[0]&0x03 == 1 { // lossless-compressed: a whole VP8L decode
				total += losslessCost(f)
				kind = "WebP with compressed alpha"
			}
		case "VP8 ":
			lossy := f
			lossy.blocks = ((f.width + 15) / 16) * ((f.height + 15) / 16)
			lossy.samples = 384 * lossy.blocks
			lossy.chunkBytes = min(int64(length), 8*16*mib+64)
			return total + costs["lossy WebP"].bytes(lossy), "lossy " + kind
		case "VP8L":
			return total + losslessCost(f), "lossless " + kind
		}
	}
	return total, kind
}

func losslessCost(f frame) int64 {
	f.tiles = ((f.width + 3) / 4) * ((f.height + 3) / 4)
	f.groups = min(f.tiles, vp8lGroups) + 4 // and one per sub-image
	return costs["lossless WebP"].bytes(f)
}
