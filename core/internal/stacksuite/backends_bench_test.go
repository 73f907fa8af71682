package stacksuite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// The measurement `cargo xtask bench --backends` makes: the same pixie-core
// binary on the embedded backend and on the stack (Postgres, S3, NATS on
// loopback), alternating, each start on empty storage. A benchmark, so that
// `go test` never runs it by itself; its figures go to the JSON file named by
// PIXIE_BENCH_BACKENDS_JSON, raw; the xtask computes and judges the percentiles.
const (
	backendsRounds  = 3
	backendsUploads = 60
	backendsLists   = 60
	// A photo as a phone makes it: about 1 MB of JPEG.
	backendsPhotoBytes = 1 << 20
)

// backendFigures is what one backend did over every round, in milliseconds.
type backendFigures struct {
	ReadyMS  []float64 `json:"ready_ms"`
	UploadMS []float64 `json:"upload_ms"`
	ListMS   []float64 `json:"list_ms"`
}

type backendsReport struct {
	PhotoBytes int            `json:"photo_bytes"`
	Rounds     int            `json:"rounds"`
	Embedded   backendFigures `json:"embedded"`
	Stack      backendFigures `json:"stack"`
}

func BenchmarkBackends(b *testing.B) {
	side := 512
	for len(noiseJPEG(b, 0, side)) < backendsPhotoBytes {
		side += 32
	}
	photos := make([][]byte, backendsUploads)
	for i := range photos {
		photos[i] = noiseJPEG(b, uint64(i), side)
	}
	stacktest.CoreBinary(b) // built before any start is timed
	report := backendsReport{PhotoBytes: len(photos[0]), Rounds: backendsRounds}
	for b.Loop() {
		for range backendsRounds {
			measureBackend(b, &report.Embedded, photos, "PIXIE_DATA_DIR="+b.TempDir())
			st := stacktest.Fresh(b, stacktest.Shared())
			measureBackend(b, &report.Stack, photos, st.Env(b)...)
		}
	}
	if path := os.Getenv("PIXIE_BENCH_BACKENDS_JSON"); path != "" {
		data, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// measureBackend starts pixie-core with env on empty storage (migrations
// included, on the stack), times its start to a ready /readyz, each upload
// (one after another) and a first page of the list, then stops it.
func measureBackend(b *testing.B, into *backendFigures, photos [][]byte, env ...string) {
	b.Helper()
	start := time.Now()
	core := stacktest.StartCore(b, env...)
	into.ReadyMS = append(into.ReadyMS, millis(time.Since(start)))
	c := apitest.NewClient(b, core.HTTPBase, core.GRPCAddr, "")
	for i, photo := range photos {
		start := time.Now()
		r := c.Upload(fmt.Sprintf("bench-%d.jpg", i), photo)
		into.UploadMS = append(into.UploadMS, millis(time.Since(start)))
		if r.Err != nil || r.Status != http.StatusCreated {
			b.Fatalf("upload %d: %d %v: %s", i, r.Status, r.Err, r.Body)
		}
	}
	for range backendsLists {
		start := time.Now()
		r := c.Get("/api/photos?limit=50", nil)
		into.ListMS = append(into.ListMS, millis(time.Since(start)))
		if r.Err != nil || r.Status != http.StatusOK {
			b.Fatalf("list: %d %v: %s", r.Status, r.Err, r.Body)
		}
	}
	if _, err := core.Stop(); err != nil {
		b.Fatal(err)
	}
}

// noiseJPEG encodes a side×side square of random pixels (which JPEG cannot
// shrink), different for every seed.
func noiseJPEG(b *testing.B, seed uint64, side int) []byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
