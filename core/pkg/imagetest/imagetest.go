// Package imagetest makes small images in every supported format for tests.
package imagetest

import (
	"bytes"
	_ "embed"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// WebP is a 150×100 lossy WebP copied from golang.org/x/image's test data
// (BSD-3-Clause, like Go), since Go has no WebP encoder to make one.
//
//go:embed sample.webp
var WebP []byte

// WebPWidth and WebPHeight are the dimensions of WebP.
const (
	WebPWidth  = 150
	WebPHeight = 100
)

// Gradient returns a w×h image whose colours depend on seed, so JPEG and PNG
// encodings of different seeds differ (GIF's palette may merge close seeds).
func Gradient(w, h int, seed uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / max(1, w)), uint8(y * 255 / max(1, h)), seed, 255})
		}
	}
	return img
}

// JPEG encodes a w×h gradient as JPEG.
func JPEG(w, h int, seed uint8) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Gradient(w, h, seed), nil); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// PNG encodes a w×h gradient as PNG.
func PNG(w, h int, seed uint8) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, Gradient(w, h, seed)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// GIF encodes a w×h gradient as GIF.
func GIF(w, h int, seed uint8) []byte {
	var buf bytes.Buffer
	if err := gif.Encode(&buf, Gradient(w, h, seed), nil); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
