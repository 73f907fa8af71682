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

	photov1 "github.com/pixie-photos/pixie/core/gen/photo/v1"
	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/imagetest"
)

// memoryOverhead is what the process may use beyond the decode budget
// (which also covers upload buffers): the Go runtime, HTTP/gRPC buffers,
// originals read for thumbnails, and garbage the GC has not reused yet (the
// server sets a soft memory limit above the budget and collects after large
// decodes, so the GC works harder rather than growing past it).
const memoryOverhead = 128 << 20

// child is a running pixie-core binary.
type child struct {
	cmd      *exec.Cmd
	httpBase string
	grpcAddr string
}

// startChild runs the real binary with env on loopback ports and waits for
// its "serving" log line.
func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(realBinary)
	cmd.Env = append(os.Environ(), "PIXIE_HTTP_ADDR=127.0.0.1:0", "PIXIE_GRPC_ADDR=127.0.0.1:0",
		"PIXIE_DATA_DIR="+t.TempDir(), "PIXIE_LOG_LEVEL=info")
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
	go func() {
		for lines.Scan() { // keeps draining stderr so the child never blocks on it
			var line struct {
				Msg      string `json:"msg"`
				HTTPAddr string `json:"http_addr"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal(lines.Bytes(), &line) == nil && line.Msg == "pixie-core serving" {
				ready <- &child{cmd: cmd, httpBase: "http://" + line.HTTPAddr, grpcAddr: line.GRPCAddr}
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

// TestHostileImagesStayWithinTheDecodeBudget runs the real binary with the
// default decode budget, sends it small files that declare huge images,
// alone and four at once, asks for their thumbnails, and checks the
// process's peak RSS after each step. It measures memory, not time.
func TestHostileImagesStayWithinTheDecodeBudget(t *testing.T) {
	const budget = config.DefaultDecodeMemory
	const limit = budget + memoryOverhead
	// A long wait makes queued decodes succeed, so the test measures memory
	// whatever the machine's speed.
	c := startChild(t, "PIXIE_DECODE_WAIT=2m")

	check := func(step string) {
		t.Helper()
		peak := c.peakRSS(t)
		t.Logf("%-52s peak RSS %4d MiB", step, peak>>20)
		if peak > limit {
			t.Errorf("%s: peak RSS %d MiB exceeds the decode budget + overhead, %d MiB", step, peak>>20, int64(limit)>>20)
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
	}

	var ids []string
	for _, tc := range accepted {
		c.resetPeak(t)
		res, err := c.upload(tc.data)
		if err != nil || res.status != http.StatusCreated {
			t.Fatalf("upload %s (%d KiB): %d %s %v", tc.name, len(tc.data)>>10, res.status, res.body, err)
		}
		check(fmt.Sprintf("upload %s (%d KiB)", tc.name, len(tc.data)>>10))
		ids = append(ids, res.id)
	}
	for _, tc := range refused {
		c.resetPeak(t)
		res, err := c.upload(tc.data)
		if err != nil || res.status != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, tc.why) {
			t.Fatalf("upload %s: %d %s %v; want 413 naming %s", tc.name, res.status, res.body, err, tc.why)
		}
		check("refuse " + tc.name)
	}

	for i, tc := range accepted {
		for _, size := range []int{256, 2048} {
			c.resetPeak(t)
			if code, err := c.thumbnail(ids[i], size); err != nil || code != http.StatusOK {
				t.Fatalf("thumbnail %d of %s: %d %v", size, tc.name, code, err)
			}
			check(fmt.Sprintf("thumbnail %d of %s", size, tc.name))
		}
	}

	c.resetPeak(t)
	// Two over HTTP, two over gRPC: both APIs share the one budget.
	distinct, err := together(4, func(i int) (uploadResult, error) {
		data := imagetest.ProgressiveJPEG(5000, 5000, byte(2+i))
		if i%2 == 1 {
			return c.uploadGRPC(data)
		}
		return c.upload(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range distinct {
		if res.status != http.StatusCreated {
			t.Fatalf("four distinct at once: %d %s", res.status, res.body)
		}
	}
	check("4 distinct 5000×5000 progressive JPEGs at once (2 HTTP, 2 gRPC)")

	c.resetPeak(t)
	same := imagetest.ProgressiveJPEG(5000, 4999, 1)
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
	check("4 identical 5000×4999 progressive JPEGs at once")

	c.resetPeak(t)
	codes, err := together(4, func(i int) (int, error) { return c.thumbnail(distinct[i].id, 1024) })
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		if code != http.StatusOK {
			t.Fatalf("four thumbnails at once: %v", codes)
		}
	}
	check("4 thumbnails of 5000×5000 progressive JPEGs at once")
}
