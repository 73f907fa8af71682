// Package stacksuite tests pixie-thumbnailer as it runs: the real binary
// beside a real pixie-core, against real PostgreSQL, S3 (versitygw) and
// NATS servers, through core's test kits (core/pkg/stacktest: where the
// servers come from and how to run this by hand).
package stacksuite

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/apitest"
	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

const pluginPackage = "github.com/pixie-photos/pixie/plugins/thumbnailer/cmd/pixie-thumbnailer"

// wait bounds every wait for the plugin: renders of the large test images
// on a loaded 2-core machine, and redeliveries after a short ack wait.
const wait = 60 * time.Second

// plugin starts pixie-thumbnailer on the test's stack, with debug logs and
// quick retries; extra settings come last and win. It waits until the
// plugin is ready (consuming) unless readyPath says otherwise.
func plugin(t *testing.T, env []string, extra ...string) *stacktest.Process {
	t.Helper()
	return startPlugin(t, "/readyz", env, extra...)
}

func startPlugin(t *testing.T, readyPath string, env []string, extra ...string) *stacktest.Process {
	t.Helper()
	settings := append([]string{"PIXIE_HEALTH_ADDR=127.0.0.1:0", "PIXIE_LOG_LEVEL=debug", "PIXIE_THUMBNAILER_RETRY_BACKOFF=100ms"}, env...)
	return stacktest.Start(t, stacktest.Service{
		Binary:     stacktest.Binary(t, pluginPackage),
		Env:        append(settings, extra...),
		ServingMsg: "pixie-thumbnailer serving",
		AddrField:  "health_addr",
		ReadyPath:  readyPath,
	})
}

// core starts pixie-core on the test's stack and a client of it.
func core(t *testing.T, env []string) (*stacktest.Core, *apitest.Client) {
	t.Helper()
	c := stacktest.StartCore(t, append(env, "PIXIE_LOG_LEVEL=debug")...)
	return c, apitest.NewClient(t, c.HTTPBase, c.GRPCAddr, "")
}

func upload(t *testing.T, api *apitest.Client, name string, data []byte) apitest.Photo {
	t.Helper()
	r := api.Upload(name, data)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s (%v)", name, r.Status, r.Body, r.Err)
	}
	var p apitest.Photo
	r.JSON(t, &p)
	return p
}

// logged waits for the plugin's log line msg about photo id.
func logged(t *testing.T, p *stacktest.Process, msg, id string) map[string]any {
	t.Helper()
	return p.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == msg && line["photo_id"] == id })
}

// thumbnailKeys lists the photo's thumbnails in the bucket, sorted.
func thumbnailKeys(t *testing.T, st stacktest.Stack, id string) []string {
	t.Helper()
	var keys []string
	for _, k := range st.ObjectKeys(t) {
		if strings.HasPrefix(k, blob.ThumbnailPrefix(id)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// oneSet fails unless the photo has exactly the thumbnails of sizes, in S3
// and in the thumbnail index.
func oneSet(t *testing.T, st stacktest.Stack, id string, sizes ...int) {
	t.Helper()
	var want []string
	for _, size := range sizes {
		want = append(want, blob.ThumbnailKey(id, size))
	}
	slices.Sort(want)
	if got := thumbnailKeys(t, st, id); !slices.Equal(got, want) {
		t.Fatalf("thumbnails in S3 = %v, want %v", got, want)
	}
	if got := st.ThumbnailSizes(t, id); !slices.Equal(got, sizes) {
		t.Fatalf("thumbnail index = %v, want %v", got, sizes)
	}
}

// settled fails unless the plugin's consumer holds nothing: every event
// it was given is answered.
func settled(t *testing.T, st stacktest.Stack) {
	t.Helper()
	info := st.Consumer(t, "thumbnailer")
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer: %d events unanswered, %d waiting", info.NumAckPending, info.NumPending)
	}
}

func thumbnailPath(id string, size int) string {
	return fmt.Sprintf("/api/photos/%s/thumbnail?size=%d", id, size)
}
