package imagetest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
)

// The generators below write hostile images, small files that declare many
// pixels, directly as bitstreams: every pixel is zero (or one flat colour),
// so they cost time proportional to the file, not to the pixels, even under
// the race detector.

// ZeroPNG returns a non-interlaced PNG of w×h black (or transparent)
// pixels. colorType is 0 (gray), 2 (RGB) or 6 (RGBA); depth is 8 or 16.
func ZeroPNG(w, h int, depth, colorType byte) []byte {
	return PNGSpec{Width: w, Height: h, Depth: depth, ColorType: colorType}.Encode()
}

// PNGSpec describes a PNG whose every byte of pixel data is zero.
type PNGSpec struct {
	Width, Height    int
	Depth, ColorType byte // any pair PNG allows
	Interlaced       bool // Adam7
	Transparent      bool // with a tRNS chunk (grey, truecolour, paletted)
}

// Encode writes the PNG: IHDR, PLTE for paletted images, tRNS, then one
// IDAT of zeros and IEND.
func (s PNGSpec) Encode() []byte {
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[s.ColorType]
	bits := channels * int(s.Depth)
	rows := func(w, h int) int64 { // a filter byte (0, None) leads each row
		if w == 0 || h == 0 {
			return 0
		}
		return int64(h) * int64(1+(w*bits+7)/8)
	}
	raw := rows(s.Width, s.Height)
	if s.Interlaced {
		raw = 0
		for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			raw += rows((s.Width-p[0]+p[2]-1)/p[2], (s.Height-p[1]+p[3]-1)/p[3])
		}
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(s.Width))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(s.Height))
	ihdr = append(ihdr, s.Depth, s.ColorType, 0, 0, map[bool]byte{false: 0, true: 1}[s.Interlaced])
	pngChunk(&out, "IHDR", ihdr)
	if s.ColorType == 3 {
		pngChunk(&out, "PLTE", []byte{0, 0, 0, 255, 255, 255})
	}
	if s.Transparent {
		pngChunk(&out, "tRNS", map[byte][]byte{0: {0, 0}, 2: {0, 0, 0, 0, 0, 0}, 3: {0}}[s.ColorType])
	}
	pngChunk(&out, "IDAT", zlibZeros(raw))
	pngChunk(&out, "IEND", nil)
	return out.Bytes()
}

func pngChunk(out *bytes.Buffer, kind string, data []byte) {
	_ = binary.Write(out, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	out.WriteString(kind)
	out.Write(data)
	_ = binary.Write(out, binary.BigEndian, crc.Sum32())
}

// zlibZeros is a zlib stream of n zero bytes. One flushed deflate block of
// zeros refers only to zeros, so repeating it stays valid; a short block
// and an empty final block make up the rest.
func zlibZeros(n int64) []byte {
	const unit = 1 << 20
	block := func(size int64, final bool) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		_, _ = fw.Write(make([]byte, size))
		if final {
			_ = fw.Close()
		} else {
			_ = fw.Flush()
		}
		return b.Bytes()
	}
	out := []byte{0x78, 0xda}
	full := block(unit, false)
	for range n / unit {
		out = append(out, full...)
	}
	out = append(out, block(n%unit, true)...)
	// Adler-32 of n zeros: a stays 1, b adds 1 per byte.
	return binary.BigEndian.AppendUint32(out, uint32(n%65521)<<16|1)
}

// ProgressiveJPEG returns a progressive (SOF2) 4:4:4 YCbCr JPEG of w×h
// mid-gray pixels. quant varies the quantisation table, so equal sizes can
// still give different bytes.
func ProgressiveJPEG(w, h int, quant byte) []byte {
	return JPEGSpec{Width: w, Height: h, SOF: 0xc2, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}, Quant: quant}.Encode()
}

// JPEGSpec describes a JPEG in which every coefficient is zero: one scan
// of all components, in which each block costs one bit (the DC difference
// 0) or two in sequential files (and end of block), so w×h pixels take
// about w×h/64 bits whatever the frame claims.
type JPEGSpec struct {
	Width, Height int
	SOF           byte   // 0xc0 baseline, 0xc1 extended sequential, 0xc2 progressive
	IDs           []byte // component identifiers, e.g. 1, 2, 3 or 'R', 'G', 'B'
	Sampling      []byte // each component's horizontal<<4 | vertical factors
	JFIF          bool   // an APP0 JFIF segment first
	Adobe         string // an APP14 Adobe segment: "" none, or "unknown", "YCbCr", "YCCK" (transforms 0, 1, 2)
	Quant         byte
}

// Encode writes the file.
func (s JPEGSpec) Encode() []byte {
	var out bytes.Buffer
	segment := func(marker byte, data []byte) {
		out.Write([]byte{0xff, marker})
		_ = binary.Write(&out, binary.BigEndian, uint16(len(data)+2))
		out.Write(data)
	}
	out.Write([]byte{0xff, 0xd8})
	if s.JFIF {
		segment(0xe0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"))
	}
	if transform := map[string]int{"unknown": 0, "YCbCr": 1, "YCCK": 2}; s.Adobe != "" {
		segment(0xee, append([]byte("Adobe\x00\x64\x00\x00\x00\x00"), byte(transform[s.Adobe])))
	}
	segment(0xdb, append([]byte{0}, bytes.Repeat([]byte{max(1, s.Quant)}, 64)...))
	sof := []byte{8, byte(s.Height >> 8), byte(s.Height), byte(s.Width >> 8), byte(s.Width), byte(len(s.IDs))}
	for i, id := range s.IDs {
		sof = append(sof, id, s.Sampling[i], 0)
	}
	segment(s.SOF, sof)
	// Table 0 of each class holds a single 1-bit code, "0": DC category 0
	// (a difference of 0), and AC end of block.
	table := append(make([]byte, 16), 0)
	table[0] = 1
	segment(0xc4, append([]byte{0x00}, table...))
	segment(0xc4, append([]byte{0x10}, table...))
	sos := []byte{byte(len(s.IDs))}
	for _, id := range s.IDs {
		sos = append(sos, id, 0)
	}
	segment(0xda, append(sos, 0, map[bool]byte{false: 63, true: 0}[s.SOF == 0xc2], 0))
	blocks := jpegBlocks(s)
	if s.SOF != 0xc2 {
		blocks *= 2
	}
	out.Write(make([]byte, blocks/8))
	if pad := blocks % 8; pad != 0 {
		out.WriteByte(0xff >> pad) // pad the last byte with 1 bits
	}
	out.Write([]byte{0xff, 0xd9})
	return out.Bytes()
}

// jpegBlocks counts the 8×8 blocks of one scan of every component, in
// whole MCUs.
func jpegBlocks(s JPEGSpec) int {
	if len(s.IDs) == 1 { // not interleaved: the component's own blocks
		return ((s.Width + 7) / 8) * ((s.Height + 7) / 8)
	}
	hmax, vmax := 1, 1
	for _, hv := range s.Sampling {
		hmax, vmax = max(hmax, int(hv>>4)), max(vmax, int(hv&15))
	}
	mcus := ((s.Width + 8*hmax - 1) / (8 * hmax)) * ((s.Height + 8*vmax - 1) / (8 * vmax))
	per := 0
	for _, hv := range s.Sampling {
		per += int(hv>>4) * int(hv&15)
	}
	return mcus * per
}

// DecoyJPEG returns the JPEG of s behind a restart marker and an APP1
// segment. image/jpeg skips the marker (it has no length) and the segment;
// a walk that reads a length after every marker jumps from the marker into
// the segment's payload, where a baseline one-component frame header
// waits: a parser that trusts it costs the image at one byte per pixel.
func DecoyJPEG(s JPEGSpec) []byte {
	real := s.Encode()
	const app1 = 0xffff // the segment's length field: payload 4..65541
	seg := make([]byte, 2+app1)
	seg[0], seg[1], seg[2], seg[3] = 0xff, 0xe1, app1>>8, app1&0xff
	// After FFD0 such a walk reads the length FF E1 and lands at 2+2+0xffe1.
	at := 2 + 2 + 0xffe1 - 4 // in seg, which starts after SOI and FFD0
	copy(seg[at:], []byte{0xff, 0xc0, 0, 11, 8, byte(s.Height >> 8), byte(s.Height), byte(s.Width >> 8), byte(s.Width), 1, 1, 0x11, 0})
	out := append([]byte{0xff, 0xd8, 0xff, 0xd0}, seg...)
	return append(out, real[2:]...)
}

// LosslessWebP returns a lossless (VP8L) WebP of w×h opaque black pixels,
// w and h at most 16384.
func LosslessWebP(w, h int) []byte {
	return WebPFile(WebPChunk("VP8L", LosslessBitstream(w, h)))
}

// LosslessBitstream is the VP8L chunk of LosslessWebP: each of the five
// prefix codes is a "simple" code with one symbol, so pixels take no bits
// at all. Its bytes after the first five (the header) are also a valid
// lossless-compressed alpha plane of the same size (ALPH).
func LosslessBitstream(w, h int) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1) // alpha hint
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	simpleCodes(&bw)
	return append(bw.bytes(), make([]byte, 8)...) // slack for the decoder's look-ahead
}

// IndexedBitstream is a VP8L chunk of w×h pixels of colour 0 of a
// two-colour palette: colour indexing packs eight pixels into each one the
// decoder reads, and unpacks them into a full copy at the end.
func IndexedBitstream(w, h int) []byte {
	var bw bitWriter
	bw.write(0x2f, 8)
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 4)   // alpha hint, version
	bw.write(1, 1)   // a transform:
	bw.write(3, 2)   // colour indexing
	bw.write(1, 8)   // of two colours: the palette, a 2×1 image,
	bw.write(0, 1)   // without colour cache
	simpleCodes(&bw) // in which every pixel is 0 (black)
	bw.write(0, 1)   // no more transforms
	bw.write(0, 1)   // the packed pixels: no colour cache,
	bw.write(0, 1)   // no meta prefix codes
	simpleCodes(&bw)
	return append(bw.bytes(), make([]byte, 8)...)
}

// simpleCodes writes the five prefix codes of a VP8L image as simple codes
// of one 8-bit symbol each: green, red, blue 0, alpha 255, distance 0.
func simpleCodes(bw *bitWriter) {
	for _, symbol := range []uint32{0, 0, 0, 255, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // of 8 bits
		bw.write(symbol, 8)
	}
}

// WebPChunk is one RIFF chunk, padded to an even length.
func WebPChunk(fourCC string, data []byte) []byte {
	out := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// WebPFile wraps chunks in the RIFF WEBP container.
func WebPFile(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// VP8X is the extended-format header chunk for a w×h canvas; alpha sets
// its alpha flag.
func VP8X(w, h int, alpha bool) []byte {
	flags := byte(0)
	if alpha {
		flags = 0x10
	}
	data := []byte{flags, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
	return WebPChunk("VP8X", data)
}

// WebPFrame returns the chunk that holds the image of a simple-format
// WebP (its VP8 or VP8L chunk).
func WebPFrame(webp []byte) []byte {
	n := binary.LittleEndian.Uint32(webp[16:20])
	return webp[12 : 20+n+n%2]
}

// FlatGIF returns a GIF with a screenW×screenH logical screen and frames
// copies of one frameW×frameH frame of colour 0.
func FlatGIF(screenW, screenH, frameW, frameH, frames int) []byte {
	return flatGIF(screenW, screenH, frameW, frameH, frames, 0)
}

// InterlacedGIF is FlatGIF with one interlaced frame.
func InterlacedGIF(screenW, screenH, frameW, frameH int) []byte {
	return flatGIF(screenW, screenH, frameW, frameH, 1, 0x40)
}

func flatGIF(screenW, screenH, frameW, frameH, frames int, fields byte) []byte {
	var out bytes.Buffer
	out.WriteString("GIF89a")
	_ = binary.Write(&out, binary.LittleEndian, [2]uint16{uint16(screenW), uint16(screenH)})
	out.Write([]byte{0x80, 0, 0}) // 2-colour global table
	out.Write([]byte{0, 0, 0, 255, 255, 255})
	frame := []byte{0x2c, 0, 0, 0, 0}
	frame = binary.LittleEndian.AppendUint16(frame, uint16(frameW))
	frame = binary.LittleEndian.AppendUint16(frame, uint16(frameH))
	frame = append(frame, fields, 2) // no local table; LZW minimum code size 2
	lzw := flatLZW(int64(frameW) * int64(frameH))
	for len(lzw) > 0 {
		n := min(255, len(lzw))
		frame = append(frame, byte(n))
		frame = append(frame, lzw[:n]...)
		lzw = lzw[n:]
	}
	frame = append(frame, 0)
	for range frames {
		out.Write(frame)
	}
	out.WriteByte(0x3b)
	return out.Bytes()
}

// flatLZW is GIF LZW (minimum code size 2) for n pixels of colour 0. It
// tracks the decoder's next free code, hi: sending hi itself means "the
// last run plus one more pixel", so successive codes cover 1, 2, 3...
// pixels until the table is full and a clear code restarts it.
func flatLZW(n int64) []byte {
	const clear, eoi = 4, 5
	var bw bitWriter
	hi, width, run := uint32(eoi), uint(3), int64(0)
	bw.write(clear, width)
	emit := func(code uint32) {
		bw.write(code, width)
		hi++
		if hi == 1<<width {
			if width < 12 {
				width++
				return
			}
			bw.write(clear, width)
			hi, width, run = eoi, 3, 0
		}
	}
	for n > 0 {
		if run == 0 || run+1 > n {
			run = 1
			emit(0)
			n--
			continue
		}
		run++
		n -= run
		emit(hi)
	}
	bw.write(eoi, width)
	return bw.bytes()
}

// bitWriter packs bits least significant first, as VP8L and GIF LZW do.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) write(v uint32, n uint) {
	b.acc |= uint64(v) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	if b.nbits > 0 {
		return append(b.buf, byte(b.acc))
	}
	return b.buf
}
