// Package imaging recognises, decodes and thumbnails the supported image
// formats: JPEG, PNG, GIF and WebP. Everything is pure Go.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// MaxPixels bounds width*height so that a small, highly compressed file
// cannot make the decoder allocate gigabytes (a "decompression bomb").
const MaxPixels = 100_000_000

var (
	// ErrUnsupported means the bytes are not one of the supported formats.
	ErrUnsupported = errors.New("unsupported image type")
	// ErrCorrupt means the bytes claim a supported format but do not decode.
	ErrCorrupt = errors.New("corrupt or truncated image")
	// ErrTooManyPixels means the declared dimensions exceed MaxPixels.
	ErrTooManyPixels = errors.New("image dimensions too large")
)

type format struct {
	decode       func(io.Reader) (image.Image, error)
	decodeConfig func(io.Reader) (image.Config, error)
}

// formats is keyed by what http.DetectContentType reports.
var formats = map[string]format{
	"image/jpeg": {jpeg.Decode, jpeg.DecodeConfig},
	"image/png":  {png.Decode, png.DecodeConfig},
	"image/gif":  {gif.Decode, gif.DecodeConfig},
	"image/webp": {webp.Decode, webp.DecodeConfig},
}

// DetectContentType sniffs the format from the bytes (never from a file
// name) and returns ErrUnsupported, naming what was found, for other data.
func DetectContentType(data []byte) (string, error) {
	ct := http.DetectContentType(data)
	if _, ok := formats[ct]; !ok {
		return "", fmt.Errorf("%w: %s (want JPEG, PNG, GIF or WebP)", ErrUnsupported, ct)
	}
	return ct, nil
}

// Decode fully decodes data of the given content type. Decoding everything,
// not just the header, is what catches truncated files.
func Decode(data []byte, contentType string) (image.Image, error) {
	f, ok := formats[contentType]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, contentType)
	}
	cfg, err := f.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: empty %dx%d image", ErrCorrupt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d exceeds %d pixels", ErrTooManyPixels, cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := f.decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return img, nil
}

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

// ThumbnailJPEG scales img to fit in size×size and encodes it as JPEG.
// Transparent areas become white, since JPEG has no alpha.
func ThumbnailJPEG(img image.Image, size int) (data []byte, width, height int, err error) {
	b := img.Bounds()
	width, height = Fit(b.Dx(), b.Dy(), size)
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), width, height, nil
}
