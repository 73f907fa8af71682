package stacksuite

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pixie-photos/pixie/core/internal/conformance"
	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// load keeps uploading distinct photos from several workers (HTTP and
// gRPC), each retrying the same bytes until they are acknowledged, the way
// a client that honours 503 does, and records what it saw.
type load struct {
	clients []*apitest.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu sync.Mutex
	// acked maps each acknowledged photo ID to the SHA-256 of its bytes.
	acked map[string]string
	// refused counts 503s (HTTP) and Unavailable (gRPC); slowest is the
	// longest time one of them took.
	refused     int
	lastRefusal error
	slowest     time.Duration
	otherError  error
	ackCh       chan struct{}
}

// startLoad runs workers until stop; each worker uses the clients in turn
// (several clients: several replicas).
func startLoad(t *testing.T, workers int, clients ...*apitest.Client) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{clients: clients, cancel: cancel, acked: map[string]string{}, ackCh: make(chan struct{}, 1<<16)}
	for w := range workers {
		l.wg.Go(func() { l.work(ctx, w) })
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) work(ctx context.Context, worker int) {
	for i := 0; ctx.Err() == nil; i++ {
		data := conformance.UniqueJPEG(24, 16)
		c := l.clients[(worker+i)%len(l.clients)]
		for ctx.Err() == nil {
			start := time.Now()
			id, retry, err := upload(ctx, c, worker%2 == 1, data)
			l.mu.Lock()
			switch {
			case ctx.Err() != nil: // stopped mid-upload: not an answer
			case err == nil:
				l.acked[id] = conformance.SHA256(data)
				l.ackCh <- struct{}{}
			case retry:
				l.refused++
				l.lastRefusal = err
				l.slowest = max(l.slowest, time.Since(start))
			case l.otherError == nil:
				l.otherError = err
			}
			l.mu.Unlock()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond): // a client's pause before retrying
			}
		}
	}
}

// upload sends data once; retry says the server asked to come back later
// (503, Unavailable) or could not be reached (a replica being killed).
func upload(ctx context.Context, c *apitest.Client, overGRPC bool, data []byte) (id string, retry bool, err error) {
	if overGRPC {
		resp, err := c.UploadGRPC(ctx, "load.jpg", data)
		if code := status.Code(err); code == codes.Unavailable || code == codes.Canceled {
			return "", true, err
		}
		return resp.GetPhoto().GetId(), false, err
	}
	r := c.Upload("load.jpg", data)
	switch {
	case r.Err != nil:
		return "", true, r.Err
	case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "":
		return "", true, fmt.Errorf("503: %s", r.Body)
	case r.Status != http.StatusOK && r.Status != http.StatusCreated:
		return "", false, fmt.Errorf("upload: %d %s", r.Status, r.Body)
	}
	var p apitest.Photo
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return "", false, err
	}
	return p.ID, false, nil
}

// waitAcks waits for n more acknowledged uploads.
func (l *load) waitAcks(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for range n {
		select {
		case <-l.ackCh:
		case <-deadline:
			t.Fatalf("fewer than %d uploads acknowledged within %v (%d refused, error %v)", n, within, l.refusedCount(), l.err())
		}
	}
}

// waitRefusals waits until the workers have been refused n times.
func (l *load) waitRefusals(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.refusedCount() < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d refusals within %v", n, within)
		}
		time.Sleep(20 * time.Millisecond) // polling the workers' tally
	}
}

func (l *load) refusedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

func (l *load) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.otherError
}

// stop ends the workers and returns what was acknowledged.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) result() (acked map[string]string, refused int, slowest time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out, l.refused, l.slowest, l.otherError
}

// verifyAcked checks that every acknowledged photo is listed and served
// with its exact bytes.
func verifyAcked(t *testing.T, c *apitest.Client, acked map[string]string) {
	t.Helper()
	listed := map[string]bool{}
	cursor := ""
	for {
		var page struct {
			Photos     []apitest.Photo `json:"photos"`
			NextCursor string          `json:"next_cursor"`
		}
		c.Get("/api/photos?limit=1000&cursor="+cursor, nil).JSON(t, &page)
		for _, p := range page.Photos {
			listed[p.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for id, sum := range acked {
		if !listed[id] {
			t.Errorf("acknowledged photo %s is not listed", id)
		}
		r := c.Get("/api/photos/"+id+"/original", nil)
		if r.Status != http.StatusOK || fmt.Sprintf("%x", sha256.Sum256(r.Body)) != sum {
			t.Errorf("acknowledged photo %s: %d, sha256 %x, want %s", id, r.Status, sha256.Sum256(r.Body), sum)
		}
	}
}

// waitNoOrphans waits until every object in the bucket belongs to a photo
// (the sweeper's work), and checks every photo has its original.
func waitNoOrphans(t *testing.T, st stacktest.Stack, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ids := st.PhotoIDs(t)
		var orphans []string
		originals := map[string]bool{}
		for _, key := range st.ObjectKeys(t) {
			id := strings.Split(strings.SplitN(key, "/", 2)[1], "/")[0]
			if !ids[id] {
				orphans = append(orphans, key)
			}
			if strings.HasPrefix(key, "originals/") {
				originals[id] = true
			}
		}
		for id := range ids {
			if !originals[id] {
				t.Fatalf("photo %s has no original in the bucket", id)
			}
		}
		if len(orphans) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan objects left after %v: %v", within, orphans)
		}
		time.Sleep(100 * time.Millisecond) // polling the sweeper's work
	}
}

// waitEventsOnce waits until every acknowledged photo's upload event is in
// the stream, and checks none is there twice.
func waitEventsOnce(t *testing.T, st stacktest.Stack, acked map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		count := map[string]int{}
		for _, e := range st.Events(t) {
			if e.Kind == "photo.uploaded" {
				count[e.PhotoID]++
			}
		}
		missing := 0
		for id := range acked {
			if count[id] == 0 {
				missing++
			}
		}
		for id, n := range count {
			if n > 1 {
				t.Fatalf("photo %s has %d upload events", id, n)
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged uploads have no event after %v", missing, len(acked), within)
		}
		time.Sleep(100 * time.Millisecond) // polling the relay's work
	}
}
