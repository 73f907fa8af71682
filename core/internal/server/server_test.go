package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/server"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
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

// inFlight opens a connection and sends the headers of a POST with
// Expect: 100-continue, then waits for the server's 100 Continue: the
// request is then in its handler, which is reading the body.
func inFlight(t *testing.T, srv *server.Server, contentType string, length int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/photos HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", contentType, length)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("waiting for 100 Continue: %v %v", resp, err)
	}
	return conn, r
}

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

// TestShutdownFinishesInFlightUpload shuts down while an upload's body is
// still to come; the upload must still complete and be stored.
func TestShutdownFinishesInFlightUpload(t *testing.T) {
	srv, cancel, done := startServer(t, testConfig(t, 10*time.Second))
	shuttingDown := make(chan struct{})
	srv.OnHTTPShutdown(func() { close(shuttingDown) })

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "slow.png")
	_, _ = fw.Write(imagetest.PNG(64, 64, 1))
	_ = mw.Close()

	conn, r := inFlight(t, srv, mw.FormDataContentType(), body.Len())
	cancel()
	<-shuttingDown // the listener is closed; shutdown waits for us
	if _, err := conn.Write(body.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&p)
	if err != nil || resp.StatusCode != http.StatusCreated || p.ID == "" {
		t.Fatalf("in-flight upload during shutdown: code=%d id=%q err=%v", resp.StatusCode, p.ID, err)
	}
	waitRun(t, done, 5*time.Second)
}

// TestShutdownTimeoutBoundsStalledRequests: a client that never finishes
// its body cannot hold shutdown beyond the timeout.
func TestShutdownTimeoutBoundsStalledRequests(t *testing.T) {
	srv, cancel, done := startServer(t, testConfig(t, 300*time.Millisecond))
	inFlight(t, srv, "multipart/form-data; boundary=x", 1000)
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
