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
	channels := map[byte]int{0: 1, 2: 3, 6: 4}[colorType]
	rowBytes := 1 + w*channels*int(depth)/8 // a filter byte (0, None) leads each row
	raw := int64(rowBytes) * int64(h)

	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, depth, colorType, 0, 0, 0)
	pngChunk(&out, "IHDR", ihdr)
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
// mid-gray pixels: one interleaved DC scan in which every block's DC
// difference is 0. quant varies the quantisation table, so equal sizes can
// still give different bytes.
func ProgressiveJPEG(w, h int, quant byte) []byte {
	var out bytes.Buffer
	segment := func(marker byte, data []byte) {
		out.Write([]byte{0xff, marker})
		_ = binary.Write(&out, binary.BigEndian, uint16(len(data)+2))
		out.Write(data)
	}
	out.Write([]byte{0xff, 0xd8})
	segment(0xdb, append([]byte{0}, bytes.Repeat([]byte{max(1, quant)}, 64)...))
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3}
	for id := byte(1); id <= 3; id++ {
		sof = append(sof, id, 0x11, 0)
	}
	segment(0xc2, sof)
	// DC table 0 holds a single 1-bit code, "0", for category 0.
	segment(0xc4, append([]byte{0x00, 1}, append(make([]byte, 15), 0)...))
	segment(0xda, []byte{3, 1, 0, 2, 0, 3, 0, 0, 0, 0})
	blocks := ((w + 7) / 8) * ((h + 7) / 8) * 3
	out.Write(make([]byte, blocks/8))
	if pad := blocks % 8; pad != 0 {
		out.WriteByte(0xff >> pad) // pad the last byte with 1 bits
	}
	out.Write([]byte{0xff, 0xd9})
	return out.Bytes()
}

// LosslessWebP returns a lossless (VP8L) WebP of w×h opaque black pixels,
// w and h at most 16384. Each of the five prefix codes is a "simple" code
// with one symbol, so pixels take no bits at all.
func LosslessWebP(w, h int) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1)                                     // alpha hint
	bw.write(0, 3)                                     // version
	bw.write(0, 1)                                     // no transform
	bw.write(0, 1)                                     // no colour cache
	bw.write(0, 1)                                     // no meta prefix codes
	for _, symbol := range []uint32{0, 0, 0, 255, 0} { // green, red, blue, alpha, distance
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // of 8 bits
		bw.write(symbol, 8)
	}
	data := append(bw.bytes(), make([]byte, 8)...) // slack for the decoder's look-ahead
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+8+len(data)))
	out.WriteString("WEBPVP8L")
	_ = binary.Write(&out, binary.LittleEndian, uint32(len(data)))
	out.Write(data)
	return out.Bytes()
}

// FlatGIF returns a GIF with a screenW×screenH logical screen and frames
// copies of one frameW×frameH frame of colour 0.
func FlatGIF(screenW, screenH, frameW, frameH, frames int) []byte {
	var out bytes.Buffer
	out.WriteString("GIF89a")
	_ = binary.Write(&out, binary.LittleEndian, [2]uint16{uint16(screenW), uint16(screenH)})
	out.Write([]byte{0x80, 0, 0}) // 2-colour global table
	out.Write([]byte{0, 0, 0, 255, 255, 255})
	frame := []byte{0x2c, 0, 0, 0, 0}
	frame = binary.LittleEndian.AppendUint16(frame, uint16(frameW))
	frame = binary.LittleEndian.AppendUint16(frame, uint16(frameH))
	frame = append(frame, 0, 2) // no local table; LZW minimum code size 2
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
