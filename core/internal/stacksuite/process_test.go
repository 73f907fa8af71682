package stacksuite

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/internal/conformance"
	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// processEnv is the stack's settings for a pixie-core process with the
// fault tests' short bounds.
func processEnv(t *testing.T, st stacktest.Stack) []string {
	return append(st.Env(t), "PIXIE_BACKEND_TIMEOUT=1s", "PIXIE_SWEEP_GRACE=3s", "PIXIE_SWEEP_INTERVAL=500ms")
}

func clientOf(t *testing.T, c *stacktest.Core) *apitest.Client {
	return apitest.NewClient(t, c.HTTPBase, c.GRPCAddr, "")
}

// TestKilledDuringUploadsLosesNothing kills -9 a real pixie-core while
// several workers upload, then starts it again: every acknowledged photo is
// intact, the sweeper removes what the dead process left half-written, and
// every acknowledged upload's event is delivered once.
func TestKilledDuringUploadsLosesNothing(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := processEnv(t, st)
	first := stacktest.StartCore(t, env...)
	l := startLoad(t, 6, clientOf(t, first))
	l.waitAcks(t, 30, 60*time.Second)
	first.Kill()
	l.stop()
	acked, _, _, err := l.result()
	if err != nil {
		t.Fatalf("an upload failed otherwise than by the kill: %v", err)
	}

	second := stacktest.StartCore(t, env...)
	c := clientOf(t, second)
	verifyAcked(t, c, acked)
	waitNoOrphans(t, st, 30*time.Second)
	waitEventsOnce(t, st, acked, 30*time.Second)
	swept := "none"
	for _, line := range strings.Split(second.Log(), "\n") {
		if strings.Contains(line, "swept unreferenced objects") {
			swept = line
		}
	}
	t.Logf("%d uploads acknowledged before the kill; sweeper after the restart: %s", len(acked), swept)
}

// TestTwoReplicasShareOneStack runs two pixie-core processes on one stack.
func TestTwoReplicasShareOneStack(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := processEnv(t, st)
	a, b := clientOf(t, stacktest.StartCore(t, env...)), clientOf(t, stacktest.StartCore(t, env...))

	// An upload on one is listed, served and thumbnailed by the other.
	data := conformance.UniqueJPEG(300, 200)
	up := a.Upload("a.jpg", data)
	if up.Status != http.StatusCreated {
		t.Fatalf("upload on A: %d %s", up.Status, up.Body)
	}
	var p apitest.Photo
	up.JSON(t, &p)
	var page struct {
		Photos []apitest.Photo `json:"photos"`
	}
	b.Get("/api/photos?limit=1", nil).JSON(t, &page)
	if len(page.Photos) != 1 || page.Photos[0] != p {
		t.Fatalf("B lists %+v, want %+v", page.Photos, p)
	}
	if r := b.Get("/api/photos/"+p.ID+"/original", nil); !bytes.Equal(r.Body, data) {
		t.Fatalf("B serves %d bytes (%d), want A's upload", len(r.Body), r.Status)
	}
	thumbB := b.Get("/api/photos/"+p.ID+"/thumbnail?size=128", nil)
	if thumbB.Status != http.StatusOK {
		t.Fatalf("thumbnail on B: %d %s", thumbB.Status, thumbB.Body)
	}
	if thumbA := a.Get("/api/photos/"+p.ID+"/thumbnail?size=128", nil); !bytes.Equal(thumbA.Body, thumbB.Body) {
		t.Fatal("A's thumbnail differs from the one B stored")
	}
	if keys := strings.Join(st.ObjectKeys(t), " "); !strings.Contains(keys, "thumbnails/"+p.ID+"/128.jpg") {
		t.Fatalf("B's thumbnail is not in the bucket: %s", keys)
	}

	// The same bytes on both at once: one photo.
	same := conformance.UniqueJPEG(64, 64)
	var wg sync.WaitGroup
	results := make([]apitest.Response, 8)
	for i := range results {
		c := []*apitest.Client{a, b}[i%2]
		wg.Go(func() { results[i] = c.Upload("same.jpg", same) })
	}
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for _, r := range results {
		var got apitest.Photo
		r.JSON(t, &got)
		ids[got.ID] = true
		if r.Status == http.StatusCreated {
			created++
		} else if r.Status != http.StatusOK {
			t.Fatalf("concurrent upload: %d %s", r.Status, r.Body)
		}
	}
	if len(ids) != 1 || created != 1 {
		t.Fatalf("%d photos, %d created, from 8 uploads of the same bytes on two replicas", len(ids), created)
	}

	// A delete on one is seen by the other.
	if r := a.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete on A: %d", r.Status)
	}
	for _, path := range []string{"", "/original", "/thumbnail?size=128"} {
		if r := b.Get("/api/photos/"+p.ID+path, nil); r.Status != http.StatusNotFound {
			t.Fatalf("B after the delete on A: GET %s = %d", path, r.Status)
		}
	}

	// Both under load at once: nothing lost, no orphan, events once.
	l := startLoad(t, 4, a, b)
	l.waitAcks(t, 40, 60*time.Second)
	l.stop()
	acked, _, _, err := l.result()
	if err != nil {
		t.Fatal(err)
	}
	verifyAcked(t, b, acked)
	verifyAcked(t, a, acked)
	waitNoOrphans(t, st, 30*time.Second)
	waitEventsOnce(t, st, acked, 30*time.Second)
}

// TestMigrateIsAOneShotStep runs `pixie-core migrate` as a container step
// would: it applies the schema, says so on one line, and exits 0, again
// when there is nothing to do; a server started after it applies nothing.
// No secret reaches any output.
func TestMigrateIsAOneShotStep(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	// Trust authentication ignores the password: a secret to look for.
	st.DatabaseURL = strings.Replace(st.DatabaseURL, "pixie@", "pixie:hunter2-secret@", 1)
	env := st.Env(t)
	run := func() (string, string) {
		cmd := exec.Command(stacktest.CoreBinary(t), "migrate")
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("migrate: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	out, errOut := run()
	if !strings.HasPrefix(out, "applied 1 migration(s) to 127.0.0.1:") || strings.Count(out, "\n") != 1 || errOut != "" {
		t.Fatalf("first run: %q %q", out, errOut)
	}
	if out, _ = run(); !strings.Contains(out, "is current (version 1)") {
		t.Fatalf("second run: %q", out)
	}
	core := stacktest.StartCore(t, env...)
	log := core.Log()
	if strings.Contains(log, "applied migrations") || !strings.Contains(log, `"backend":"stack"`) || !strings.Contains(log, `"msg":"stack ready"`) {
		t.Fatalf("server log after migrate:\n%s", log)
	}
	for _, secret := range []string{"hunter2-secret", st.S3SecretKey} {
		if strings.Contains(log+out+errOut, secret) {
			t.Fatalf("a secret reached the output:\n%s", log)
		}
	}
	var health map[string]string
	clientOf(t, core).Get("/healthz", nil).JSON(t, &health)
	if health["backend"] != "stack" {
		t.Fatalf("/healthz = %v", health)
	}
}
