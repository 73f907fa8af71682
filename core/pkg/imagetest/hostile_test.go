package imagetest_test

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/webp"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
)

// The hand-made bitstreams must decode, with the declared size, through
// the same decoders the server uses.
func TestHostileGeneratorsDecode(t *testing.T) {
	cases := map[string]struct {
		data   []byte
		decode func([]byte) (image.Image, error)
		w, h   int
	}{
		"gray png":         {imagetest.ZeroPNG(3000, 7, 8, 0), pngDecode, 3000, 7},
		"16-bit rgba png":  {imagetest.ZeroPNG(1500, 1100, 16, 6), pngDecode, 1500, 1100},
		"progressive jpeg": {imagetest.ProgressiveJPEG(333, 250, 1), jpegDecode, 333, 250},
		"lossless webp":    {imagetest.LosslessWebP(700, 301), webpDecode, 700, 301},
		"gif":              {imagetest.FlatGIF(900, 800, 900, 800, 3), gifDecode, 900, 800},
		"gif small frame":  {imagetest.FlatGIF(5000, 5000, 1, 1, 1), gifDecode, 1, 1},
		"gif table resets": {imagetest.FlatGIF(4000, 4000, 4000, 4000, 1), gifDecode, 4000, 4000}, // 16 Mpx: several full LZW tables
	}
	for name, tc := range cases {
		img, err := tc.decode(tc.data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: %v, want %dx%d", name, b, tc.w, tc.h)
		}
	}
	// The content is the flat colour each generator promises.
	img, _ := jpegDecode(imagetest.ProgressiveJPEG(16, 16, 1))
	if r, g, b, _ := img.At(5, 5).RGBA(); r>>8 != 128 || g>>8 != 128 || b>>8 != 128 {
		t.Errorf("progressive JPEG pixel = %d,%d,%d; want mid-gray", r>>8, g>>8, b>>8)
	}
	img, _ = webpDecode(imagetest.LosslessWebP(4, 4))
	if c := color.NRGBAModel.Convert(img.At(3, 3)); c != (color.NRGBA{0, 0, 0, 255}) {
		t.Errorf("WebP pixel = %v, want opaque black", c)
	}
	all, err := gif.DecodeAll(bytes.NewReader(imagetest.FlatGIF(100, 100, 50, 40, 7)))
	if err != nil || len(all.Image) != 7 {
		t.Errorf("GIF frames: %v, err %v; want 7", len(all.Image), err)
	}
}

func pngDecode(b []byte) (image.Image, error)  { return png.Decode(bytes.NewReader(b)) }
func jpegDecode(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
func webpDecode(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }
func gifDecode(b []byte) (image.Image, error)  { return gif.Decode(bytes.NewReader(b)) }
