package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/imagetest"
	"github.com/pixie-photos/pixie/core/internal/server"
)

func testConfig(t *testing.T, shutdownTimeout time.Duration) config.Config {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MaxUploadBytes = 1 << 20
	cfg.LogLevel = slog.LevelDebug
	cfg.ShutdownTimeout = shutdownTimeout
	return cfg
}

func startServer(t *testing.T, cfg config.Config) (*server.Server, context.CancelFunc, <-chan error) {
	t.Helper()
	srv, err := server.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(cancel)
	return srv, cancel, done
}

// settle gives the server time to accept a connection the client has
// opened, so that shutdown sees an in-flight request rather than a dial
// still in the listen backlog (which closing the listener would reset).
func settle() { time.Sleep(300 * time.Millisecond) }

func waitRun(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil after cancellation", err)
		}
	case <-time.After(within):
		t.Fatalf("Run did not return within %v of cancellation", within)
	}
}

func TestServesBothAPIsAndStopsQuicklyWhenIdle(t *testing.T) {
	srv, cancel, done := startServer(t, testConfig(t, 10*time.Second))
	base := "http://" + srv.HTTPAddr().String()

	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	resp.Body.Close()

	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hr, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", hr, err)
	}

	start := time.Now()
	cancel()
	waitRun(t, done, 2*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("idle shutdown took %v", took)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("HTTP still accepting after shutdown")
	}
}

// TestShutdownFinishesInFlightUpload cancels while an upload body is half
// sent; the upload must still complete and be stored.
func TestShutdownFinishesInFlightUpload(t *testing.T) {
	srv, cancel, done := startServer(t, testConfig(t, 10*time.Second))
	url := "http://" + srv.HTTPAddr().String() + "/api/photos"

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "slow.png")
	_, _ = fw.Write(imagetest.PNG(64, 64, 1))
	_ = mw.Close()
	payload := body.Bytes()

	pr, pw := io.Pipe()
	type result struct {
		code int
		id   string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.ContentLength = int64(len(payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var p struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&p)
		res <- result{code: resp.StatusCode, id: p.ID, err: err}
	}()

	half := len(payload) / 2
	if _, err := pw.Write(payload[:half]); err != nil { // the client has connected
		t.Fatal(err)
	}
	settle()
	cancel()
	time.Sleep(200 * time.Millisecond) // shutdown is now waiting for us
	if _, err := pw.Write(payload[half:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()

	r := <-res
	if r.err != nil || r.code != http.StatusCreated || r.id == "" {
		t.Fatalf("in-flight upload during shutdown: code=%d id=%q err=%v", r.code, r.id, r.err)
	}
	waitRun(t, done, 5*time.Second)
}

// TestShutdownTimeoutBoundsStalledRequests: a client that never finishes
// its body cannot hold shutdown beyond the timeout.
func TestShutdownTimeoutBoundsStalledRequests(t *testing.T) {
	srv, cancel, done := startServer(t, testConfig(t, 300*time.Millisecond))
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr().String()+"/api/photos", pr)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		req.ContentLength = 1000
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("--x\r\n")); err != nil {
		t.Fatal(err)
	}
	settle()
	start := time.Now()
	cancel()
	waitRun(t, done, 3*time.Second)
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("shutdown returned after %v; it should have waited for the in-flight request", took)
	}
}

func TestNewFailsOnBusyPort(t *testing.T) {
	srv, _, _ := startServer(t, testConfig(t, time.Second))
	cfg := testConfig(t, time.Second)
	cfg.HTTPAddr = srv.HTTPAddr().String()
	if _, err := server.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))); err == nil {
		t.Fatal("New succeeded on a port already in use")
	}
}
