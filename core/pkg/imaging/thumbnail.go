package imaging

import (
	"bytes"
	"image"
	stddraw "image/draw"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// tilePixels bounds the scratch tile that source pixels pass through while
// they are averaged, whatever the image's shape.
const tilePixels = 64 << 10

// Fit returns the dimensions of w×h scaled so its longest side is at most
// size, keeping the aspect ratio and never upscaling.
func Fit(w, h, size int) (int, int) {
	if w <= size && h <= size {
		return w, h
	}
	if w >= h {
		return size, max(1, (h*size+w/2)/w)
	}
	return max(1, (w*size+h/2)/h), size
}

// ThumbnailBytes estimates what ThumbnailJPEG allocates on top of the
// decoded image for a w×h source: the box-averaged image (under twice the
// target on each side), the target, its JPEG encoding, the tile and one row
// of sums. It does not grow with the source, whatever its aspect ratio.
func ThumbnailBytes(w, h, size int) int64 {
	dw, dh := Fit(w, h, size)
	return 24*int64(dw)*int64(dh) + 4*tilePixels + 64*int64(dw) + 64<<10 // + encoder state
}

// ThumbnailJPEG scales img to fit in size×size and encodes it as JPEG.
// Transparent areas become white, since JPEG has no alpha.
//
// It first averages whole boxes of source pixels (an integer number per
// axis) down to under twice the target size, then resamples bilinearly.
// Kernel filters that scale in one pass keep a weight per source pixel
// along each axis, which for a 60,000,000×1 image is gigabytes.
func ThumbnailJPEG(img image.Image, size int) (data []byte, width, height int, err error) {
	b := img.Bounds()
	width, height = Fit(b.Dx(), b.Dy(), size)
	boxed := boxShrink(img, b.Dx()/width, b.Dy()/height)
	dst := boxed
	if boxed.Bounds().Dx() != width || boxed.Bounds().Dy() != height {
		dst = image.NewRGBA(image.Rect(0, 0, width, height))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), boxed, boxed.Bounds(), draw.Src, nil)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), width, height, nil
}

// boxShrink averages fx×fy boxes of img into an opaque image, compositing
// over white; the last box of each row and column also takes the leftover
// pixels. Source pixels are read through a small tile, so memory depends
// only on the output size.
func boxShrink(img image.Image, fx, fy int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	bw, bh := sw/fx, sh/fy
	out := image.NewRGBA(image.Rect(0, 0, bw, bh))

	tw := min(sw, tilePixels)
	th := max(1, tilePixels/tw)
	tile := image.NewRGBA(image.Rect(0, 0, tw, th))
	sums := make([][4]uint64, bw)

	for oy := range bh {
		y0, y1 := oy*fy, (oy+1)*fy
		if oy == bh-1 {
			y1 = sh
		}
		clear(sums)
		for ty := y0; ty < y1; ty += th {
			rows := min(th, y1-ty)
			for tx := 0; tx < sw; tx += tw {
				cols := min(tw, sw-tx)
				r := image.Rect(0, 0, cols, rows)
				stddraw.Draw(tile, r, img, b.Min.Add(image.Pt(tx, ty)), stddraw.Src)
				for y := range rows {
					row := tile.Pix[y*tile.Stride:]
					for x := range cols {
						s := &sums[min((tx+x)/fx, bw-1)]
						p := row[4*x : 4*x+4]
						s[0] += uint64(p[0])
						s[1] += uint64(p[1])
						s[2] += uint64(p[2])
						s[3] += uint64(p[3])
					}
				}
			}
		}
		line := out.Pix[oy*out.Stride:]
		for ox, s := range sums {
			cols := uint64(fx)
			if ox == bw-1 {
				cols = uint64(sw - ox*fx)
			}
			n := cols * uint64(y1-y0)
			// Premultiplied colour over white: c + (255 - alpha).
			white := 255 - s[3]/n
			for c := range 3 {
				line[4*ox+c] = uint8(min(255, s[c]/n+white))
			}
			line[4*ox+3] = 255
		}
	}
	return out
}
