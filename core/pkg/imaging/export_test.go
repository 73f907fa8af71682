package imaging

import (
	"image"
	"io"
)

// DecoderFor is the decoder Decode uses for contentType, for tests that
// feed it through their own reader.
func DecoderFor(contentType string) func(io.Reader) (image.Image, error) {
	return formats[contentType].decode
}
