package imagetest

// HuffmanGroupsBitstream is a VP8L chunk of w×h pixels (at most 999 tiles
// of 4×4) whose every tile has its own group of five prefix codes, each as
// large as VP8L allows: green with a full colour cache (2328 symbols), red,
// blue and alpha (256), distance (40). It is what makes x/image/vp8l hold
// the most Huffman trees for an image of that size.
func HuffmanGroupsBitstream(w, h int) []byte {
	tiles := ((w + 3) / 4) * ((h + 3) / 4)
	var bw bitWriter
	bw.write(0x2f, 8)
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 4) // alpha hint, version
	bw.write(0, 1) // no transform
	bw.write(1, 1) // a colour cache
	bw.write(11, 4)
	bw.write(1, 1) // meta prefix codes
	bw.write(0, 3) // of 4×4 tiles: the entropy image, one pixel per tile,
	bw.write(0, 1) // without colour cache,
	byteCode := newPrefixCode(uniformLengths(256, 8))
	// Green's alphabet also has 24 length codes (and the colour cache).
	tileGreen := newPrefixCode(append(uniformLengths(232, 8), uniformLengths(48, 9)...))
	writeCode(&bw, tileGreen) // green: the group's low byte
	writeCode(&bw, byteCode)  // red: its high byte
	for range 3 {             // blue, alpha, distance: unused
		bw.write(1, 1)
		bw.write(0, 1)
		bw.write(1, 1)
		bw.write(0, 8)
	}
	for tile := range tiles {
		writeSymbol(&bw, tileGreen, tile&0xff)
		writeSymbol(&bw, byteCode, tile>>8)
	}
	green := newPrefixCode(append(uniformLengths(1768, 11), uniformLengths(560, 12)...))
	distance := newPrefixCode(append(uniformLengths(24, 5), uniformLengths(16, 6)...))
	for range tiles {
		writeCode(&bw, green)
		for range 3 {
			writeCode(&bw, byteCode)
		}
		writeCode(&bw, distance)
	}
	// Every pixel is opaque black, coded with its tile's group.
	for range w * h {
		writeSymbol(&bw, green, 0)
		writeSymbol(&bw, byteCode, 0)
		writeSymbol(&bw, byteCode, 0)
		writeSymbol(&bw, byteCode, 255)
	}
	return append(bw.bytes(), make([]byte, 8)...)
}

func uniformLengths(n int, length uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = length
	}
	return out
}

// canonical returns the canonical prefix codes of the code lengths.
func canonical(lengths []uint32) []uint32 {
	var count [16]uint32
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [16]uint32
	code := uint32(0)
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes := make([]uint32, len(lengths))
	for s, l := range lengths {
		if l > 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// prefixCode is a canonical prefix code given by its code lengths.
type prefixCode struct{ lengths, codes []uint32 }

func newPrefixCode(lengths []uint32) prefixCode { return prefixCode{lengths, canonical(lengths)} }

// writeSymbol writes symbol's code, most significant bit first, as the
// decoder walks its tree.
func writeSymbol(bw *bitWriter, c prefixCode, symbol int) {
	for i := int(c.lengths[symbol]) - 1; i >= 0; i-- {
		bw.write(c.codes[symbol]>>i&1, 1)
	}
}

// writeCode writes a normal prefix code of the given lengths, which use at
// most two values: each value once, then runs of "repeat the previous
// length" (code 16).
func writeCode(bw *bitWriter, c prefixCode) {
	lengths := c.lengths
	const repeat = 16
	// The code-length code: 16 gets one bit, each length value two (or
	// one if there is a single value).
	clLengths := make([]uint32, 19)
	values := []uint32{}
	for _, l := range lengths {
		if len(values) == 0 || values[len(values)-1] != l {
			values = append(values, l)
		}
	}
	clLengths[repeat] = 1
	for _, v := range values {
		clLengths[v] = uint32(len(values))
	}
	order := [19]uint32{17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	n := 4
	for i, s := range order {
		if clLengths[s] != 0 {
			n = max(n, i+1)
		}
	}
	bw.write(0, 1) // a normal code
	bw.write(uint32(n-4), 4)
	for _, s := range order[:n] {
		bw.write(clLengths[s], 3)
	}
	cl := newPrefixCode(clLengths)
	bw.write(0, 1) // lengths for the whole alphabet
	for i := 0; i < len(lengths); {
		run := 1
		for i+run < len(lengths) && lengths[i+run] == lengths[i] {
			run++
		}
		writeSymbol(bw, cl, int(lengths[i]))
		for left := run - 1; left > 0; {
			if left < 3 {
				writeSymbol(bw, cl, int(lengths[i]))
				left--
				continue
			}
			k := min(left, 6)
			writeSymbol(bw, cl, repeat)
			bw.write(uint32(k-3), 2)
			left -= k
		}
		i += run
	}
}
