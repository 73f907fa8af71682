package imaging_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image/jpeg"
	"testing"

	"github.com/pixie-photos/pixie/core/internal/imagetest"
	"github.com/pixie-photos/pixie/core/internal/imaging"
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
