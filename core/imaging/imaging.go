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

// Header is what an image declares before any pixel is decoded.
type Header struct {
	Width, Height int
	// DecodeBytes estimates, from above, what Decode allocates for it.
	DecodeBytes int64
	// Kind names the format and variant, e.g. "progressive JPEG".
	Kind string
}

func (h Header) String() string { return fmt.Sprintf("%d×%d %s", h.Width, h.Height, h.Kind) }

// Inspect reads only the header of data: dimensions, checked against
// MaxPixels, and the memory a full decode will take.
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
	h := Header{Width: cfg.Width, Height: cfg.Height, Kind: f.name}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	switch contentType {
	case "image/jpeg":
		h.DecodeBytes, h.Kind = jpegCost(data, cfg)
	case "image/png":
		bpp := bytesPerPixel(cfg.ColorModel)
		// Two rows of scanline buffers; interlaced files decode each pass
		// into its own image before merging.
		h.DecodeBytes = pixels*bpp + 2*int64(cfg.Width)*bpp
		if len(data) > 28 && data[28] == 1 {
			h.DecodeBytes += pixels * bpp
			h.Kind = "interlaced PNG"
		}
		if bpp == 8 {
			h.Kind = "16-bit " + h.Kind
		}
	case "image/gif":
		// Only the first frame is decoded, and it lies within the screen.
		h.DecodeBytes = pixels
	case "image/webp":
		switch cfg.ColorModel {
		case color.NRGBAModel:
			// Lossless: the ARGB pixels plus one transform's full copy.
			h.DecodeBytes, h.Kind = 8*pixels, "lossless WebP"
		case color.NYCbCrAModel:
			h.DecodeBytes, h.Kind = pixels*5/2, "lossy WebP with alpha"
		default:
			h.DecodeBytes, h.Kind = pixels*3/2, "lossy WebP"
		}
	}
	return h, nil
}

// bytesPerPixel is the size of one pixel of the image a decoder returns
// for a colour model.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
}

// jpegCost reads the frame header to learn the sampling and whether the
// file is progressive: a progressive decode keeps every DCT coefficient as
// an int32, 4 bytes per sample, on top of the image itself.
func jpegCost(data []byte, cfg image.Config) (int64, string) {
	w, h := int64(cfg.Width), int64(cfg.Height)
	progressive, comps, ok := jpegFrame(data)
	if !ok {
		// Unreadable frame header: assume the worst, progressive 4:4:4.
		return w * h * 15, "JPEG"
	}
	var hmax, vmax int64 = 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, int64(c[0])), max(vmax, int64(c[1]))
	}
	// Decoders work in whole MCUs.
	pw := (w + 8*hmax - 1) / (8 * hmax) * 8 * hmax
	ph := (h + 8*vmax - 1) / (8 * vmax) * 8 * vmax
	var samples int64
	for _, c := range comps {
		samples += pw * ph * int64(c[0]) * int64(c[1]) / (hmax * vmax)
	}
	cost := samples
	kind := "JPEG"
	if progressive {
		cost += 4 * samples
		kind = "progressive JPEG"
	}
	if len(comps) == 4 {
		cost += 4 * w * h // converted to CMYK
	}
	return cost, kind
}

// jpegFrame walks the marker segments up to the frame header and returns
// whether it is progressive and each component's sampling factors.
func jpegFrame(data []byte) (progressive bool, comps [][2]byte, ok bool) {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xff {
			return false, nil, false
		}
		marker := data[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		isSOF := marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc
		if !isSOF {
			i += 2 + n
			continue
		}
		seg := data[i+4 : min(len(data), i+2+n)]
		if len(seg) < 6 || len(seg) < 6+3*int(seg[5]) {
			return false, nil, false
		}
		for c := range int(seg[5]) {
			hv := seg[6+3*c+1]
			comps = append(comps, [2]byte{max(1, hv>>4), max(1, hv&0x0f)})
		}
		progressive = marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce
		return progressive, comps, true
	}
	return false, nil, false
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
