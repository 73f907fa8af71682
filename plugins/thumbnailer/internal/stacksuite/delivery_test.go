package stacksuite

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
	"github.com/pixie-photos/pixie/plugins/thumbnailer/internal/consumer"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// big takes long enough to render (two sizes of 12 Mpx) for a test to act
// while the plugin is at it.
func big(seed uint8) []byte { return imagetest.JPEG(4000, 3000, seed) }

// rendering waits until the plugin has started rendering photo id.
func rendering(t *testing.T, p *stacktest.Process, id string) {
	t.Helper()
	logged(t, p, "rendering", id)
}

// The plugin killed while it renders: the event is delivered again after
// the ack wait, and the photo ends with exactly one set of thumbnails.
func TestAPluginKilledMidRenderLeavesOneSet(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	_, api := core(t, env)
	first := plugin(t, env, "PIXIE_THUMBNAILER_ACK_WAIT=2s")
	p := upload(t, api, "big.jpg", big(5))
	rendering(t, first, p.ID)
	first.Kill()
	if strings.Contains(first.Log(), `"msg":"thumbnails stored"`) {
		t.Fatalf("the render finished before the kill; the test proves nothing:\n%s", first.Log())
	}
	second := plugin(t, env, "PIXIE_THUMBNAILER_ACK_WAIT=2s")
	logged(t, second, "thumbnails stored", p.ID)
	second.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "handling event" && line["delivery"] == 2.0 })
	oneSet(t, st, p.ID, 256, 1024)
	if dead := st.DeadLetters(t); len(dead) != 0 {
		t.Fatalf("%d dead letters, want none", len(dead))
	}
	settled(t, st)
}

// An event whose every attempt went unanswered (the plugin died each
// time) is dead-lettered by the one delivery JetStream makes beyond them.
func TestAnEventWhoseAttemptsAllWentUnansweredIsDeadLettered(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	_, api := core(t, env)
	settings := []string{"PIXIE_THUMBNAILER_ACK_WAIT=1s", "PIXIE_THUMBNAILER_MAX_DELIVER=1"}
	first := plugin(t, env, settings...)
	p := upload(t, api, "big.jpg", big(6))
	rendering(t, first, p.ID)
	first.Kill()
	second := plugin(t, env, settings...)
	second.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "event dead-lettered" })
	dead := onlyDeadLetter(t, st)
	if got := dead.Header.Get(consumer.HeaderReason); got != "none of 1 attempts answered: the process stopped or crashed while handling it" {
		t.Fatalf("reason %q", got)
	}
	if uploadedID(t, dead.Data) != p.ID || dead.Header.Get(consumer.HeaderDeliveries) != "2" {
		t.Fatalf("dead letter %v for %s", dead.Header, uploadedID(t, dead.Data))
	}
	settled(t, st)
}

// Events no attempt can handle go to the dead-letter subject at once, with
// the reason, and the plugin goes on with the next: a damaged original, an
// image too large for the plugin's decode budget (which pixie-core's larger
// one accepted), an event that does not decode.
func TestPoisonEventsAreDeadLetteredAndThePluginGoesOn(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	_, api := core(t, env)
	damaged := upload(t, api, "damaged.jpg", imagetest.JPEG(800, 600, 7))
	st.PutObject(t, blob.OriginalKey(damaged.ID), bytes.Repeat([]byte("x"), int(damaged.Size)))
	huge := upload(t, api, "huge.png", imagetest.ZeroPNG(6000, 6000, 8, 6)) // 144 MB decoded, 64 MiB budget
	publishRaw(t, st, events.KindUploaded, []byte("not a protobuf message \xff\xff"))

	pl := plugin(t, env, "PIXIE_DECODE_MEMORY=67108864")
	good := upload(t, api, "good.jpg", imagetest.JPEG(800, 600, 8))
	logged(t, pl, "thumbnails stored", good.ID)
	oneSet(t, st, good.ID, 256, 1024)

	reasons := map[string]string{}
	for _, d := range st.DeadLetters(t) {
		if d.Subject != natsrelay.DeadLetterSubject(st.Prefix, "thumbnailer") || d.Header.Get(consumer.HeaderSubject) != st.Prefix+".photo.uploaded" ||
			d.Header.Get(consumer.HeaderDeliveries) != "1" {
			t.Fatalf("dead letter on %s with %v", d.Subject, d.Header)
		}
		id := "malformed"
		if msg, err := events.Decode(events.KindUploaded, d.Data); err == nil {
			id = msg.(*photov1.PhotoUploaded).GetPhoto().GetId()
		}
		reasons[id] = d.Header.Get(consumer.HeaderReason)
	}
	for id, want := range map[string]string{
		damaged.ID:  "corrupt or truncated image",
		huge.ID:     "PIXIE_DECODE_MEMORY",
		"malformed": "malformed event: decode photo.uploaded event",
	} {
		if !strings.Contains(reasons[id], want) {
			t.Fatalf("dead letter of %s: reason %q, want one saying %q (all: %v)", id, reasons[id], want, reasons)
		}
	}
	if len(reasons) != 3 {
		t.Fatalf("dead letters: %v, want the 3 poison events", reasons)
	}
	oneSet(t, st, damaged.ID)
	oneSet(t, st, huge.ID)
	settled(t, st)
}

// A failure that may pass (S3 down) is retried with a doubling delay, then
// dead-lettered after the last attempt; once S3 is back the plugin works.
func TestFailuresAreRetriedWithBackoffThenDeadLettered(t *testing.T) {
	servers := stacktest.StartPrivate(t)
	st := stacktest.Fresh(t, servers.Servers)
	env := st.Env(t)
	_, api := core(t, env)
	p := upload(t, api, "a.jpg", imagetest.JPEG(640, 480, 9))
	servers.S3.Stop()
	pl := startPlugin(t, "/healthz", env, "PIXIE_THUMBNAILER_MAX_DELIVER=3", "PIXIE_BACKEND_TIMEOUT=1s")
	dead := pl.WaitLog(t, wait, func(line map[string]any) bool { return line["msg"] == "event dead-lettered" })
	if reason, _ := dead["reason"].(string); !strings.HasPrefix(reason, "still failing after 3 attempts: ") {
		t.Fatalf("reason %q", reason)
	}
	var delays []time.Duration
	for _, text := range strings.Split(pl.Log(), "\n") {
		var line struct {
			Msg     string        `json:"msg"`
			RetryIn time.Duration `json:"retry_in"`
		}
		if json.Unmarshal([]byte(text), &line) == nil && line.Msg == "event failed; retrying" {
			delays = append(delays, line.RetryIn)
		}
	}
	if !slices.Equal(delays, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) {
		t.Fatalf("retry delays %v, want 100ms then 200ms", delays)
	}
	if d := onlyDeadLetter(t, st); uploadedID(t, d.Data) != p.ID || d.Header.Get(consumer.HeaderDeliveries) != "3" {
		t.Fatalf("dead letter %v", d.Header)
	}
	if err := servers.S3.Start(); err != nil {
		t.Fatal(err)
	}
	q := upload(t, api, "b.jpg", imagetest.JPEG(640, 480, 10))
	logged(t, pl, "thumbnails stored", q.ID)
	settled(t, st)
}

// SIGTERM while rendering: the plugin finishes the event in hand and
// acknowledges it before exiting 0; with no time to finish, it gives the
// event back, and the next plugin takes it at once, not after the ack wait.
func TestGracefulStopFinishesOrGivesBackTheEventInHand(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	env := st.Env(t)
	_, api := core(t, env)

	finishing := plugin(t, env)
	p := upload(t, api, "big.jpg", big(11))
	rendering(t, finishing, p.ID)
	if state, err := finishing.Stop(); err != nil || !state.Success() {
		t.Fatalf("stop: %v, %v\n%s", state, err, finishing.Log())
	}
	logged(t, finishing, "thumbnails stored", p.ID)
	oneSet(t, st, p.ID, 256, 1024)
	settled(t, st)

	hurried := plugin(t, env, "PIXIE_SHUTDOWN_TIMEOUT=1ms")
	q := upload(t, api, "big2.jpg", big(12))
	rendering(t, hurried, q.ID)
	if state, err := hurried.Stop(); err != nil || !state.Success() {
		t.Fatalf("stop: %v, %v\n%s", state, err, hurried.Log())
	}
	hurried.WaitLog(t, time.Second, func(line map[string]any) bool {
		return line["msg"] == "shutting down before the event was done; giving it back"
	})
	next := plugin(t, env, "PIXIE_THUMBNAILER_ACK_WAIT=10m")
	logged(t, next, "thumbnails stored", q.ID)
	oneSet(t, st, q.ID, 256, 1024)
	settled(t, st)
}

func onlyDeadLetter(t *testing.T, st stacktest.Stack) *jetstream.RawStreamMsg {
	t.Helper()
	dead := st.DeadLetters(t)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	return dead[0]
}

func uploadedID(t *testing.T, payload []byte) string {
	t.Helper()
	msg, err := events.Decode(events.KindUploaded, payload)
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*photov1.PhotoUploaded).GetPhoto().GetId()
}

// publishRaw puts a message on the test's event stream, as a broken
// publisher would.
func publishRaw(t *testing.T, st stacktest.Stack, kind string, payload []byte) {
	t.Helper()
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, natsrelay.StreamConfig(st.Prefix)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, natsrelay.Subject(st.Prefix, kind), payload); err != nil {
		t.Fatal(err)
	}
}
