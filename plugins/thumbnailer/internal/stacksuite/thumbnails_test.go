package stacksuite

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/imaging/budget"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/settings"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// An upload through pixie-core gets its thumbnails from the plugin, in S3
// and in the thumbnail index; pixie-core serves them without rendering, and
// still renders on demand the sizes the plugin does not make.
func TestUploadedPhotosGetThumbnailsThatCoreServes(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	c, api := core(t, env)
	pl := plugin(t, env)
	data := imagetest.JPEG(1600, 1200, 1)
	p := upload(t, api, "a.jpg", data)
	logged(t, pl, "thumbnails stored", p.ID)
	oneSet(t, st, p.ID, 256, 1024)

	// The very bytes pixie-core's own renderer makes (same code, same budget rules).
	decoder := budget.New(budget.Options{Bytes: settings.DefaultDecodeMemory, Wait: time.Minute})
	for _, size := range []int{256, 1024} {
		stored := st.Object(t, blob.ThumbnailKey(p.ID, size))
		want, err := decoder.Thumbnail(context.Background(), data, "image/jpeg", size)
		if err != nil || !bytes.Equal(stored, want) {
			t.Fatalf("%d px: the plugin stored %d bytes, pixie-core's renderer makes %d (%v)", size, len(stored), len(want), err)
		}
		// 200 is served by the 256 step.
		for _, asked := range []int{size, size - 56} {
			r := api.Get(thumbnailPath(p.ID, asked), nil)
			if r.Status != http.StatusOK || !bytes.Equal(r.Body, stored) {
				t.Fatalf("GET thumbnail?size=%d: %d, %d bytes; want the stored %d", asked, r.Status, len(r.Body), len(stored))
			}
		}
	}
	if strings.Contains(c.Log(), `"op":"thumbnail"`) {
		t.Fatalf("pixie-core rendered a thumbnail the plugin had stored:\n%s", c.Log())
	}
	// A size the plugin does not make: pixie-core renders it on demand, as before.
	if r := api.Get(thumbnailPath(p.ID, 64), nil); r.Status != http.StatusOK {
		t.Fatalf("GET thumbnail?size=64: %d %s", r.Status, r.Body)
	}
	c.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "image decode" && line["op"] == "thumbnail" })
	settled(t, st)

	health := getJSON(t, "http://"+pl.Field("health_addr")+"/healthz")
	ready := getJSON(t, "http://"+pl.Field("health_addr")+"/readyz")
	version := getJSON(t, "http://"+pl.Field("health_addr")+"/version")
	if health["status"] != "ok" || ready["status"] != "ready" || version["version"] != "dev" {
		t.Fatalf("probes: %v %v %v", health, ready, version)
	}
}

// photo.deleted removes a photo's thumbnails: after a delete through
// pixie-core, and after one that pixie-core's own cleanup never followed (a
// crash right after the delete committed).
func TestDeletedPhotosLoseTheirThumbnails(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	_, api := core(t, env)
	pl := plugin(t, env)

	p := upload(t, api, "a.jpg", imagetest.JPEG(640, 480, 2))
	logged(t, pl, "thumbnails stored", p.ID)
	if r := api.Do(http.MethodDelete, "/api/photos/"+p.ID, nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	logged(t, pl, "thumbnails removed", p.ID)
	oneSet(t, st, p.ID)

	q := upload(t, api, "b.jpg", imagetest.JPEG(640, 480, 3))
	logged(t, pl, "thumbnails stored", q.ID)
	pg, err := pgmeta.Open(st.DatabaseURL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	// The row and its event, as pixie-core's delete commits them, and nothing in S3.
	if _, err := pg.Delete(context.Background(), q.ID); err != nil {
		t.Fatal(err)
	}
	logged(t, pl, "thumbnails removed", q.ID)
	oneSet(t, st, q.ID)
	if st.Object(t, blob.OriginalKey(q.ID)) == nil {
		t.Fatal("the plugin removed an original; originals are pixie-core's (its sweeper's)")
	}
	settled(t, st)
}

// Started before pixie-core has migrated the database, the plugin waits,
// says why in /readyz, and consumes once the schema is there.
func TestThePluginWaitsForCoreSchema(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	pl := startPlugin(t, "/healthz", env)
	pl.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "not consuming yet; retrying" })
	readyz := "http://" + pl.Field("health_addr") + "/readyz"
	resp, err := http.Get(readyz)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "the database schema is at version 0; pixie-core migrates it") {
		t.Fatalf("readyz before migrations: %d %s", resp.StatusCode, body)
	}
	_, api := core(t, env)
	pl.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "consuming events" })
	p := upload(t, api, "a.jpg", imagetest.JPEG(320, 240, 4))
	logged(t, pl, "thumbnails stored", p.ID)
	if got := getJSON(t, readyz); got["status"] != "ready" {
		t.Fatalf("readyz after migrations: %v", got)
	}
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return v
}
