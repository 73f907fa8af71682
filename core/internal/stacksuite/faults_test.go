package stacksuite

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pixie-photos/pixie/core/internal/config"
	"github.com/pixie-photos/pixie/core/internal/conformance"
	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// Fault tests run pixie-core in this process against servers of their
// own, with short bounds: each storage call 1 s, orphans swept after 3 s.
const (
	faultTimeout = time.Second
	faultGrace   = 3 * time.Second
)

func startFaultCore(t *testing.T, st stacktest.Stack) *conformance.Target {
	t.Helper()
	return conformance.Start(t, conformance.Backend{Name: "stack", Configure: func(_ *testing.T, cfg *config.Config) {
		cfg.Stack = st.Config()
		cfg.BackendTimeout, cfg.SweepGrace, cfg.SweepInterval = faultTimeout, faultGrace, 500*time.Millisecond
	}})
}

// readyzSays waits until /readyz answers status with text in its body.
func readyzSays(t *testing.T, c *apitest.Client, status int, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.Get("/readyz", nil)
		if r.Status == status && strings.Contains(string(r.Body), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s, want %d mentioning %q", r.Status, r.Body, status, text)
		}
		time.Sleep(20 * time.Millisecond) // polling the probe
	}
}

// TestDependencyRestartsLoseNothing stops and restarts each server under
// uploads from several workers: requests that need it get 503 (or gRPC
// Unavailable) quickly while it is down, nothing acknowledged is lost, the
// sweeper leaves no orphan, every acknowledged upload's event is delivered
// exactly once, and connections and goroutines come back to their level.
func TestDependencyRestartsLoseNothing(t *testing.T) {
	for _, dep := range []string{"postgres", "s3", "nats"} {
		t.Run(dep, func(t *testing.T) {
			p := stacktest.StartPrivate(t)
			st := stacktest.Fresh(t, p.Servers)
			server := map[string]*stacktest.Server{"postgres": &p.Postgres.Server, "s3": &p.S3.Server, "nats": &p.NATS.Server}[dep]
			core := startFaultCore(t, st)
			baseline := runtime.NumGoroutine()
			l := startLoad(t, 4, core.Client)
			l.waitAcks(t, 10, 30*time.Second)

			server.Kill()
			if dep == "nats" {
				// Events wait in the outbox; uploads go on.
				readyzSays(t, core.Client, http.StatusOK, "disconnected")
				l.waitAcks(t, 10, 30*time.Second)
				if n := l.refusedCount(); n > 0 {
					t.Fatalf("%d uploads refused while only NATS was down: %v", n, l.lastRefusal)
				}
			} else {
				l.waitRefusals(t, 4, 30*time.Second)
				readyzSays(t, core.Client, http.StatusServiceUnavailable, dep+" at ")
			}
			if err := server.Start(); err != nil {
				t.Fatal(err)
			}
			readyzSays(t, core.Client, http.StatusOK, `"nats":"connected"`)
			l.waitAcks(t, 10, 30*time.Second)
			l.stop()

			acked, refused, slowest, err := l.result()
			if err != nil {
				t.Fatalf("an upload failed otherwise than with 503/Unavailable: %v", err)
			}
			t.Logf("%d uploads acknowledged, %d refused while %s was down (slowest refusal %v)", len(acked), refused, dep, slowest)
			if slowest > 2*faultTimeout+time.Second {
				t.Errorf("a refusal took %v, more than the deadline of two storage calls (%v each)", slowest, faultTimeout)
			}
			verifyAcked(t, core.Client, acked)
			waitNoOrphans(t, st, 30*time.Second)
			waitEventsOnce(t, st, acked, 30*time.Second)
			checkBounded(t, core, st, baseline)
		})
	}
}

// checkBounded: Postgres connections within the pool's bound; goroutines
// within what the connection pools explain (an S3 connection kept for
// reuse holds two), however many requests and outages there were.
func checkBounded(t *testing.T, core *conformance.Target, st stacktest.Stack, baseline int) {
	t.Helper()
	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var conns int
	db := st.DatabaseURL[strings.LastIndex(st.DatabaseURL, "/")+1 : strings.Index(st.DatabaseURL, "?")]
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns > pgmeta.DefaultMaxConns {
		t.Errorf("pixie-core holds %d Postgres connections, more than its pool's %d", conns, pgmeta.DefaultMaxConns)
	}
	core.HTTP.CloseIdleConnections()
	bound := baseline + 2*s3blob.DefaultMaxConns + 20
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > bound {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines, more than %d (%d before the load):\n%s", runtime.NumGoroutine(), bound, baseline, buf[:runtime.Stack(buf, true)])
			break
		}
		time.Sleep(50 * time.Millisecond) // polling for goroutines to end
	}
}

// TestHungDependencyAnswers503WithinTheDeadline freezes a server
// (SIGSTOP): connections stay open and nothing answers. Requests must not
// hang: 503 with Retry-After (gRPC Unavailable) within the backend
// timeout, and all is well once it continues.
func TestHungDependencyAnswers503WithinTheDeadline(t *testing.T) {
	for _, dep := range []string{"postgres", "s3"} {
		t.Run(dep, func(t *testing.T) {
			p := stacktest.StartPrivate(t)
			st := stacktest.Fresh(t, p.Servers)
			server := map[string]*stacktest.Server{"postgres": &p.Postgres.Server, "s3": &p.S3.Server}[dep]
			core := startFaultCore(t, st)
			photo := core.Upload("before.jpg", conformance.UniqueJPEG(32, 32))
			if photo.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", photo.Status, photo.Body)
			}
			var before apitest.Photo
			photo.JSON(t, &before)

			if err := server.Pause(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = server.Resume() })
			start := time.Now()
			r := core.Upload("during.jpg", conformance.UniqueJPEG(32, 32))
			took := time.Since(start)
			if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Fatalf("upload while %s hangs: %d %s", dep, r.Status, r.Body)
			}
			if took > 2*faultTimeout+time.Second {
				t.Fatalf("the 503 took %v; the deadline is %v per storage call", took, faultTimeout)
			}
			path := "/api/photos/" + before.ID
			if dep == "s3" {
				path += "/original"
			}
			start = time.Now()
			if r := core.Get(path, nil); r.Status != http.StatusServiceUnavailable || time.Since(start) > faultTimeout+time.Second {
				t.Fatalf("GET %s while %s hangs: %d after %v", path, dep, r.Status, time.Since(start))
			}
			if err := server.Resume(); err != nil {
				t.Fatal(err)
			}
			readyzSays(t, core.Client, http.StatusOK, `"status":"ok"`)
			if r := core.Get(path, nil); r.Status != http.StatusOK {
				t.Fatalf("after %s continued: %d %s", dep, r.Status, r.Body)
			}
		})
	}
}
