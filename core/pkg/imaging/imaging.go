// Package imaging recognises, decodes and thumbnails the supported image
// formats: JPEG, PNG, GIF and WebP, with the standard library's and
// golang.org/x/image's decoders. Inspect tells, before decoding, the most
// memory a decode can take (see estimate.go). Everything is pure Go and
// depends on nothing else of pixie, so any module can use it.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"golang.org/x/image/webp"
)

// MaxPixels bounds width*height so that a small, highly compressed file
// cannot make the decoder allocate gigabytes (a "decompression bomb"). 64 Mpx
// holds every current camera sensor and costs 256 MiB as RGBA, half of the
// default decode budget.
const MaxPixels = 64_000_000

var (
	// ErrUnsupported means the bytes are not one of the supported formats.
	ErrUnsupported = errors.New("unsupported image type")
	// ErrCorrupt means the bytes claim a supported format but do not decode.
	ErrCorrupt = errors.New("corrupt or truncated image")
	// ErrTooManyPixels means the declared dimensions exceed MaxPixels.
	ErrTooManyPixels = errors.New("image dimensions too large")
)

type format struct {
	name         string
	decode       func(io.Reader) (image.Image, error)
	decodeConfig func(io.Reader) (image.Config, error)
}

// formats is keyed by what http.DetectContentType reports.
var formats = map[string]format{
	"image/jpeg": {"JPEG", jpeg.Decode, jpeg.DecodeConfig},
	"image/png":  {"PNG", png.Decode, png.DecodeConfig},
	"image/gif":  {"GIF", gif.Decode, gif.DecodeConfig},
	"image/webp": {"WebP", webp.Decode, webp.DecodeConfig},
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

// Decode fully decodes data of the given content type, after checking its
// header with Inspect. Decoding everything, not just the header, is what
// catches truncated files.
func Decode(data []byte, contentType string) (image.Image, error) {
	if _, err := Inspect(data, contentType); err != nil {
		return nil, err
	}
	img, err := formats[contentType].decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return img, nil
}
