package imaging_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"testing"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

func TestDetectAndDecodeEveryFormat(t *testing.T) {
	cases := []struct {
		name, contentType string
		data              []byte
		w, h              int
	}{
		{"jpeg", "image/jpeg", imagetest.JPEG(40, 30, 1), 40, 30},
		{"png", "image/png", imagetest.PNG(20, 50, 1), 20, 50},
		{"gif", "image/gif", imagetest.GIF(33, 17, 1), 33, 17},
		{"webp", "image/webp", imagetest.WebP, imagetest.WebPWidth, imagetest.WebPHeight},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := imaging.DetectContentType(tc.data)
			if err != nil || ct != tc.contentType {
				t.Fatalf("DetectContentType = %q, %v; want %q", ct, err, tc.contentType)
			}
			img, err := imaging.Decode(tc.data, ct)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("decoded %v, want %dx%d", b, tc.w, tc.h)
			}
		})
	}
}

func TestDetectRejectsNonImages(t *testing.T) {
	for name, data := range map[string][]byte{
		"text": []byte("just some text, named photo.jpg"),
		"pdf":  []byte("%PDF-1.4\n"),
		"html": []byte("<html><body>hi</body></html>"),
		"zero": {},
	} {
		if _, err := imaging.DetectContentType(data); !errors.Is(err, imaging.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	for name, data := range map[string][]byte{
		"jpeg": imagetest.JPEG(64, 64, 2),
		"png":  imagetest.PNG(64, 64, 2),
		"gif":  imagetest.GIF(64, 64, 2),
		"webp": imagetest.WebP,
	} {
		ct, err := imaging.DetectContentType(data)
		if err != nil {
			t.Fatal(err)
		}
		cut := data[:len(data)*2/3]
		if _, err := imaging.Decode(cut, ct); !errors.Is(err, imaging.ErrCorrupt) {
			t.Errorf("%s truncated: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestDecodeRejectsHugeDimensions(t *testing.T) {
	// A valid PNG header declaring 20000x20000 pixels; the body is never read.
	data := imagetest.PNG(1, 1, 0)
	huge := bytes.Clone(data)
	// IHDR width and height live at bytes 16..24, big-endian, and the chunk's
	// CRC over type and data at 29..33.
	copy(huge[16:24], []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20})
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	if _, err := imaging.Decode(huge, "image/png"); !errors.Is(err, imaging.ErrTooManyPixels) {
		t.Fatalf("err = %v, want ErrTooManyPixels", err)
	}
}

func TestFit(t *testing.T) {
	cases := []struct{ w, h, size, wantW, wantH int }{
		{4000, 3000, 256, 256, 192},
		{3000, 4000, 256, 192, 256},
		{100, 50, 256, 100, 50}, // never upscale
		{1000, 1, 16, 16, 1},    // never collapse to zero
		{512, 512, 512, 512, 512},
	}
	for _, c := range cases {
		if w, h := imaging.Fit(c.w, c.h, c.size); w != c.wantW || h != c.wantH {
			t.Errorf("Fit(%d,%d,%d) = %d,%d; want %d,%d", c.w, c.h, c.size, w, h, c.wantW, c.wantH)
		}
	}
}

func TestThumbnailJPEG(t *testing.T) {
	img, err := imaging.Decode(imagetest.PNG(300, 200, 3), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	data, w, h, err := imaging.ThumbnailJPEG(img, 64)
	if err != nil {
		t.Fatal(err)
	}
	if w != 64 || h != 43 {
		t.Fatalf("thumbnail %dx%d, want 64x43", w, h)
	}
	decoded, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := decoded.Bounds(); b.Dx() != 64 || b.Dy() != 43 {
		t.Fatalf("encoded thumbnail is %v", b)
	}
}

// allocated returns the bytes fn allocates on the heap.
func allocated(fn func()) int64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

func TestThumbnailMemoryDoesNotGrowWithTheLongSide(t *testing.T) {
	for _, data := range [][]byte{imagetest.ZeroPNG(4_000_000, 1, 8, 0), imagetest.ZeroPNG(1, 4_000_000, 8, 0)} {
		img, err := imaging.Decode(data, "image/png")
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		var w, h int
		used := allocated(func() {
			if _, w, h, err = imaging.ThumbnailJPEG(img, 256); err != nil {
				t.Fatal(err)
			}
		})
		if max(w, h) != 256 || min(w, h) != 1 {
			t.Errorf("%v: thumbnail %dx%d, want 256x1", b, w, h)
		}
		if limit := imaging.ThumbnailBytes(b.Dx(), b.Dy(), 256); used > limit || used > 2<<20 {
			t.Errorf("%v: thumbnail allocated %d bytes; estimate %d, want both under 2 MiB", b, used, limit)
		}
	}
}

func TestThumbnailAveragesAndWhitensTransparency(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 400, 200))
	for y := range 200 {
		for x := range 400 {
			switch {
			case x < 200:
				src.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
			case x < 300:
				src.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 255})
			default: // transparent: must come out white
				src.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 0})
			}
		}
	}
	data, w, h, err := imaging.ThumbnailJPEG(src, 64)
	if err != nil || w != 64 || h != 32 {
		t.Fatalf("thumbnail %dx%d, %v", w, h, err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	near := func(x int, want color.RGBA) {
		t.Helper()
		r, g, b, _ := img.At(x, 16).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
		for i, v := range []uint8{want.R, want.G, want.B} {
			if d := got[i] - int(v); d < -40 || d > 40 {
				t.Errorf("pixel %d = %v, want about %v", x, got, want)
				return
			}
		}
	}
	near(10, color.RGBA{255, 0, 0, 255})
	near(40, color.RGBA{0, 0, 255, 255})
	near(60, color.RGBA{255, 255, 255, 255})
}
