package budget

import (
	"fmt"
	"testing"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

// The cost of the backstop per upload: the same check in this process and
// in a decode child, and what the child holds at its peak.
//
//	go test -run '^$' -bench . -benchtime 20x ./pkg/imaging/budget
func BenchmarkCheck(b *testing.B) {
	for _, size := range [][2]int{{1024, 768}, {4032, 3024}} {
		data := imagetest.JPEG(size[0], size[1], 1)
		name := fmt.Sprintf("%dx%d JPEG %d KiB", size[0], size[1], len(data)>>10)
		b.Run(name+"/in process", func(b *testing.B) {
			for b.Loop() {
				if _, err := imaging.Decode(data, "image/jpeg"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/in a child", func(b *testing.B) {
			h, err := imaging.Inspect(data, "image/jpeg")
			if err != nil {
				b.Fatal(err)
			}
			var peak int64
			for b.Loop() {
				res, err := runChild(ctx, job{Op: opCheck, ContentType: "image/jpeg", Heap: childHeap(h.DecodeBytes, len(data))}, data)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, res.peakRSS)
			}
			b.ReportMetric(float64(peak)/(1<<20), "child-peak-MiB")
			b.ReportMetric(float64(h.DecodeBytes)/(1<<20), "estimate-MiB")
		})
	}
}
