package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/settings"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// memoryOverhead is what pixie-core may use beyond the decode budget
// (which covers upload buffers and every decode child's reservation): the
// server's Go runtime, HTTP/gRPC buffers, originals read for thumbnails,
// and garbage the GC has not reused yet (the server sets a soft memory
// limit above the budget, so the GC works harder rather than growing past
// it).
const memoryOverhead = 128 << 20

// child is a running pixie-core binary.
type child struct {
	cmd      *exec.Cmd
	httpBase string
	grpcAddr string
	// decodes gets each decode the server ran in a child process, from
	// its debug log.
	decodes chan decodeRecord
}

// decodeRecord is one decode child: when it ran and its peak RSS (less
// the pages of the binary that every process of it shares).
type decodeRecord struct {
	start, end time.Time
	peakRSS    int64
}

// startChild runs the real binary with env on loopback ports and waits for
// its "serving" log line.
func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(realBinary)
	cmd.Env = append(os.Environ(), "PIXIE_HTTP_ADDR=127.0.0.1:0", "PIXIE_GRPC_ADDR=127.0.0.1:0",
		"PIXIE_DATA_DIR="+t.TempDir(), "PIXIE_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stderr)
	ready := make(chan *child, 1)
	decodes := make(chan decodeRecord, 1024)
	go func() {
		for lines.Scan() { // keeps draining stderr so the child never blocks on it
			var line struct {
				Time     time.Time     `json:"time"`
				Msg      string        `json:"msg"`
				HTTPAddr string        `json:"http_addr"`
				GRPCAddr string        `json:"grpc_addr"`
				Took     time.Duration `json:"took"`
				PeakRSS  int64         `json:"child_peak_rss"`
			}
			if json.Unmarshal(lines.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "pixie-core serving":
				ready <- &child{cmd: cmd, httpBase: "http://" + line.HTTPAddr, grpcAddr: line.GRPCAddr, decodes: decodes}
			case "image decode", "decode exceeded its reservation; its estimate is wrong":
				decodes <- decodeRecord{start: line.Time.Add(-line.Took), end: line.Time, peakRSS: line.PeakRSS}
			}
		}
	}()
	select {
	case c := <-ready:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("pixie-core did not log \"pixie-core serving\" within 10s")
		return nil
	}
}

// resetPeak restarts the kernel's peak-RSS count (VmHWM) for the child.
func (c *child) resetPeak(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.cmd.Process.Pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
}

// peakRSS is the child's VmHWM in bytes.
func (c *child) peakRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// awaitDecodes returns the next n decodes the server logs.
func (c *child) awaitDecodes(t *testing.T, n int) []decodeRecord {
	t.Helper()
	out := make([]decodeRecord, 0, n)
	timeout := time.After(2 * time.Minute) // a guard: the log lines come before the answers
	for len(out) < n {
		select {
		case r := <-c.decodes:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("logged %d of %d decodes", len(out), n)
		}
	}
	return out
}

// concurrentPeak bounds the memory of decode children alive at once: the
// largest sum of the peaks of children whose runs overlap.
func concurrentPeak(decodes []decodeRecord) int64 {
	var most int64
	for _, at := range decodes {
		var sum int64
		for _, d := range decodes {
			if !d.start.After(at.start) && !d.end.Before(at.start) {
				sum += d.peakRSS
			}
		}
		most = max(most, sum)
	}
	return most
}

type uploadResult struct {
	status int
	id     string
	body   string
}

func (c *child) upload(data []byte) (uploadResult, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "hostile")
	_, _ = fw.Write(data)
	_ = mw.Close()
	resp, err := http.Post(c.httpBase+"/api/photos", mw.FormDataContentType(), &body)
	if err != nil {
		return uploadResult{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p struct{ ID string }
	_ = json.Unmarshal(raw, &p)
	return uploadResult{status: resp.StatusCode, id: p.ID, body: strings.TrimSpace(string(raw))}, nil
}

// uploadGRPC sends data over gRPC Upload in 1 MiB chunks.
func (c *child) uploadGRPC(data []byte) (uploadResult, error) {
	conn, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return uploadResult{}, err
	}
	defer conn.Close()
	stream, err := photov1.NewPhotoServiceClient(conn).Upload(context.Background())
	if err != nil {
		return uploadResult{}, err
	}
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: "hostile"}}})
	for chunk := range slices.Chunk(data, 1<<20) {
		if stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: chunk}}) != nil {
			break // CloseAndRecv reports why
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return uploadResult{status: http.StatusInternalServerError, body: err.Error()}, nil
	}
	code := http.StatusOK
	if resp.GetCreated() {
		code = http.StatusCreated
	}
	return uploadResult{status: code, id: resp.GetPhoto().GetId()}, nil
}

func (c *child) thumbnail(id string, size int) (int, error) {
	resp, err := http.Get(fmt.Sprintf("%s/api/photos/%s/thumbnail?size=%d", c.httpBase, id, size))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// together runs fn for each index at once and returns the results in order.
func together[T any](n int, fn func(i int) (T, error)) ([]T, error) {
	out, errs := make([]T, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = fn(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hostile are files whose headers understate what image/jpeg, image/png
// and x/image/webp allocate for them, by the factor each beat the old
// estimate (issue 18); variant makes the bytes of each call different.
var hostile = []struct {
	name string
	file func(variant int) []byte
}{
	{"5000×5000 progressive JPEG behind a decoy frame header (15× under)", func(v int) []byte {
		return imagetest.DecoyJPEG(imagetest.JPEGSpec{Width: 5000, Height: 5000, SOF: 0xc2, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}, Quant: byte(1 + v)})
	}},
	{"5000×5000 16-bit grey PNG with tRNS (4× under)", func(v int) []byte {
		return imagetest.PNGSpec{Width: 5000, Height: 5000 - v, Depth: 16, ColorType: 0, Transparent: true}.Encode()
	}},
	{"5000×5000 lossless WebP in VP8X without the alpha flag (2.7× under)", func(v int) []byte {
		return imagetest.WebPFile(imagetest.VP8X(5000, 5000-v, false), imagetest.WebPChunk("VP8L", imagetest.LosslessBitstream(5000, 5000-v)))
	}},
	{"4500×4500 progressive RGB JPEG (components R, G, B)", func(v int) []byte {
		return imagetest.JPEGSpec{Width: 4500, Height: 4500, SOF: 0xc2, IDs: []byte("RGB"), Sampling: []byte{0x11, 0x11, 0x11}, Quant: byte(1 + v)}.Encode()
	}},
}

// TestHostileImagesStayWithinTheDecodeBudget runs the real binary with the
// default decode budget and sends it small files that declare huge images
// or understate their decoding, alone and four at once over HTTP and over
// gRPC, and asks for their thumbnails. After each step the memory of the
// whole process tree (the server's peak RSS plus the peaks of the decode
// children that ran at the same time) must stay within the budget and
// overhead. It measures memory, not time.
func TestHostileImagesStayWithinTheDecodeBudget(t *testing.T) {
	const budget = settings.DefaultDecodeMemory
	const limit = budget + memoryOverhead
	// A long wait makes queued decodes succeed, so the test measures memory
	// whatever the machine's speed.
	c := startChild(t, "PIXIE_DECODE_WAIT=2m")

	// check waits for the step's decodes, then checks the tree's peak.
	check := func(step string, decodes int) {
		t.Helper()
		server := c.peakRSS(t)
		children := concurrentPeak(c.awaitDecodes(t, decodes))
		t.Logf("%-72s peak RSS %4d MiB (server %4d + decode children %4d)", step, (server+children)>>20, server>>20, children>>20)
		if server+children > limit {
			t.Errorf("%s: peak RSS %d MiB exceeds the decode budget + overhead, %d MiB", step, (server+children)>>20, int64(limit)>>20)
		}
	}

	accepted := []struct {
		name string
		data []byte
	}{
		{"60,000,000×1 gray PNG", imagetest.ZeroPNG(60_000_000, 1, 8, 0)},
		{"1×60,000,000 gray PNG", imagetest.ZeroPNG(1, 60_000_000, 8, 0)},
		{"5000×5000 progressive JPEG", imagetest.ProgressiveJPEG(5000, 5000, 1)},
		{"5000×5000 16-bit RGBA PNG", imagetest.ZeroPNG(5000, 5000, 16, 6)},
		{"8000×8000 RGBA PNG", imagetest.ZeroPNG(8000, 8000, 8, 6)},
		{"5000×5000 lossless WebP", imagetest.LosslessWebP(5000, 5000)},
		{"8000×8000 GIF", imagetest.FlatGIF(8000, 8000, 8000, 8000, 1)},
		{"8000×8000-screen GIF with a 1×1 frame", imagetest.FlatGIF(8000, 8000, 1, 1, 1)},
		{"2000×2000 GIF of 500 frames", imagetest.FlatGIF(2000, 2000, 2000, 2000, 500)},
	}
	for _, h := range hostile {
		accepted = append(accepted, struct {
			name string
			data []byte
		}{h.name, h.file(0)})
	}
	refused := []struct {
		name, why string
		data      []byte
	}{
		{"100,000,000×1 gray PNG", "pixels", imagetest.ZeroPNG(100_000_000, 1, 8, 0)},
		{"10000×10000 progressive JPEG", "pixels", imagetest.ProgressiveJPEG(10000, 10000, 1)},
		{"10000×10000 16-bit RGBA PNG", "pixels", imagetest.ZeroPNG(10000, 10000, 16, 6)},
		{"65535×65535-screen GIF", "pixels", imagetest.FlatGIF(65535, 65535, 1, 1, 1)},
		{"7000×7000 progressive JPEG", "PIXIE_DECODE_MEMORY", imagetest.ProgressiveJPEG(7000, 7000, 1)},
		{"60,000,000×1 RGBA PNG", "PIXIE_DECODE_MEMORY", imagetest.ZeroPNG(60_000_000, 1, 8, 6)},
		{"8000×8000 interlaced 16-bit grey PNG with tRNS", "PIXIE_DECODE_MEMORY",
			imagetest.PNGSpec{Width: 8000, Height: 8000, Depth: 16, ColorType: 0, Transparent: true, Interlaced: true}.Encode()},
		{"7000×7000 progressive JPEG behind a decoy frame header", "PIXIE_DECODE_MEMORY",
			imagetest.DecoyJPEG(imagetest.JPEGSpec{Width: 7000, Height: 7000, SOF: 0xc2, IDs: []byte{1, 2, 3}, Sampling: []byte{0x11, 0x11, 0x11}})},
	}

	var ids []string
	for _, tc := range accepted {
		c.resetPeak(t)
		res, err := c.upload(tc.data)
		if err != nil || res.status != http.StatusCreated {
			t.Fatalf("upload %s (%d KiB): %d %s %v", tc.name, len(tc.data)>>10, res.status, res.body, err)
		}
		check(fmt.Sprintf("upload %s (%d KiB)", tc.name, len(tc.data)>>10), 1)
		ids = append(ids, res.id)
	}
	for _, tc := range refused {
		c.resetPeak(t)
		res, err := c.upload(tc.data)
		if err != nil || res.status != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, tc.why) {
			t.Fatalf("upload %s: %d %s %v; want 413 naming %s", tc.name, res.status, res.body, err, tc.why)
		}
		check("refuse "+tc.name, 0)
	}

	for i, tc := range accepted {
		for _, size := range []int{256, 2048} {
			c.resetPeak(t)
			if code, err := c.thumbnail(ids[i], size); err != nil || code != http.StatusOK {
				t.Fatalf("thumbnail %d of %s: %d %v", size, tc.name, code, err)
			}
			check(fmt.Sprintf("thumbnail %d of %s", size, tc.name), 1)
		}
	}

	// The four hostile kinds at once, over each API: both share the budget.
	for api, send := range map[string]func([]byte) (uploadResult, error){"HTTP": c.upload, "gRPC": c.uploadGRPC} {
		variant := map[string]int{"HTTP": 1, "gRPC": 2}[api]
		c.resetPeak(t)
		results, err := together(len(hostile), func(i int) (uploadResult, error) { return send(hostile[i].file(variant)) })
		if err != nil {
			t.Fatal(err)
		}
		for i, res := range results {
			if res.status != http.StatusCreated {
				t.Fatalf("%s over %s beside the others: %d %s", hostile[i].name, api, res.status, res.body)
			}
		}
		check(fmt.Sprintf("the 4 hostile kinds at once over %s", api), len(hostile))
		if api == "gRPC" {
			c.resetPeak(t)
			codes, err := together(len(results), func(i int) (int, error) { return c.thumbnail(results[i].id, 1024) })
			if err != nil {
				t.Fatal(err)
			}
			for _, code := range codes {
				if code != http.StatusOK {
					t.Fatalf("four thumbnails at once: %v", codes)
				}
			}
			check("thumbnails of the 4 hostile kinds at once", len(results))
		}
	}

	c.resetPeak(t)
	same := hostile[0].file(3)
	identical, err := together(4, func(int) (uploadResult, error) { return c.upload(same) })
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, res := range identical {
		if res.id != identical[0].id {
			t.Fatalf("identical uploads got different photos: %+v", identical)
		}
		if res.status == http.StatusCreated {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("four identical uploads created %d photos, want 1", created)
	}
	check("4 identical decoy JPEGs at once (decoded once)", 1)
}
