// Package conformance is one suite of pixie-core's behaviour, over HTTP
// and gRPC, that every storage backend must pass the same: run against the
// embedded backend by its own test and against the stack by
// internal/stacksuite. It is a test kit: only _test.go files import it.
package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/server"
	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
)

// Settings of the server under test, which the cases rely on.
const (
	Token          = "conformance-token-0123456789"
	MaxUploadBytes = 1 << 20
)

// Event is a published photo event.
type Event struct {
	Kind    string // "photo.uploaded" or "photo.deleted"
	PhotoID string
}

// Backend is one storage backend to run the suite on.
type Backend struct {
	// Name is what /healthz must say ("embedded", "stack").
	Name string
	// Configure points cfg at the backend (a data dir, the stack's servers).
	Configure func(t *testing.T, cfg *config.Config)
	// Events returns the events published so far, where the backend
	// publishes them (JetStream). Nil: read them from the event log lines.
	Events func(t *testing.T) []Event
}

// Target is a running pixie-core under test.
type Target struct {
	*apitest.Client
	Backend Backend
	logs    *syncBuffer
}

// Start runs a pixie-core on loopback with the suite's settings and waits
// until /readyz answers 200; its cleanup stops it.
func Start(t *testing.T, b Backend) *Target {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.APIToken, cfg.MaxUploadBytes = Token, MaxUploadBytes
	cfg.ShutdownTimeout = 5 * time.Second
	b.Configure(t, &cfg)
	logs := &syncBuffer{}
	srv, err := server.New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	target := &Target{Client: apitest.NewClient(t, "http://"+srv.HTTPAddr().String(), srv.GRPCAddr().String(), Token), Backend: b, logs: logs}
	target.WaitReady(t, 30*time.Second)
	return target
}

// WaitReady polls /readyz until it answers 200.
func (tg *Target) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := tg.Get("/readyz", nil)
		if r.Err == nil && r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within %v: %d %s %v", within, r.Status, r.Body, r.Err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting
	}
}

// Events returns the events published so far.
func (tg *Target) Events(t *testing.T) []Event {
	if tg.Backend.Events != nil {
		return tg.Backend.Events(t)
	}
	var out []Event
	for _, line := range strings.Split(tg.logs.String(), "\n") {
		var entry struct {
			Msg     string `json:"msg"`
			Type    string `json:"type"`
			Payload struct {
				ID    string `json:"id"`
				Photo struct {
					ID string `json:"id"`
				} `json:"photo"`
			} `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "event" {
			continue
		}
		switch entry.Type {
		case "photo.v1.PhotoUploaded":
			out = append(out, Event{"photo.uploaded", entry.Payload.Photo.ID})
		case "photo.v1.PhotoDeleted":
			out = append(out, Event{"photo.deleted", entry.Payload.ID})
		}
	}
	return out
}

// Run runs every case on a fresh server of the backend.
func Run(t *testing.T, b Backend) {
	tg := Start(t, b)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tg) })
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, tg *Target)
}

// cases are filled by the files of this package, one per area.
var cases []testCase

func register(name string, run func(t *testing.T, tg *Target)) bool {
	cases = append(cases, testCase{name, run})
	return true
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// expectError checks an HTTP error answer: status, JSON body mentioning want.
func expectError(t *testing.T, r apitest.Response, status int, want string) {
	t.Helper()
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q", ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	r.JSON(t, &body)
	if !strings.Contains(body.Error, want) {
		t.Fatalf("error %q does not mention %q", body.Error, want)
	}
}

// upload stores data over HTTP and fails the test unless it is new.
func (tg *Target) upload(t *testing.T, name string, data []byte) apitest.Photo {
	t.Helper()
	r := tg.Upload(name, data)
	if r.Err != nil || r.Status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s %v", name, r.Status, r.Body, r.Err)
	}
	var p apitest.Photo
	r.JSON(t, &p)
	return p
}

// UniqueJPEG returns a w×h JPEG (a little wider after every 256 calls)
// whose bytes no other call in this process returns.
func UniqueJPEG(w, h int) []byte {
	n := jpegSeq.Add(1)
	return imagetest.JPEG(w+int(n/256), h, uint8(n))
}

var jpegSeq atomic.Int64

// SHA256 is the lowercase hex SHA-256 of data.
func SHA256(data []byte) string { return fmt.Sprintf("%x", sha256.Sum256(data)) }
