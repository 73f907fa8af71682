package consumer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	"github.com/pixie-photos/pixie/core/pkg/meta"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// These tests run the consumer in this process (under the race detector)
// against a real NATS server; the handler is the test's.
func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

var errPermanent = errors.New("never works")

type rig struct {
	t     *testing.T
	st    stacktest.Stack
	js    jetstream.JetStream
	cfg   Config
	calls atomic.Int32
}

func newRig(t *testing.T, handle func(r *rig, ctx context.Context) error, tune func(*Config)) (*rig, *Consumer) {
	t.Helper()
	r := &rig{t: t, st: stacktest.Fresh(t, stacktest.Shared())}
	nc, js, err := natsrelay.Connect(r.st.NATSURL, "", "consumer-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.js = js
	r.cfg = Config{Prefix: r.st.Prefix, Name: "test", Kinds: []string{events.KindUploaded}, Workers: 2, MaxDeliver: 3,
		AckWait: time.Minute, RetryBackoff: 50 * time.Millisecond, ShutdownTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
	if tune != nil {
		tune(&r.cfg)
	}
	c := New(js, r.cfg, func(ctx context.Context, _ proto.Message) error {
		r.calls.Add(1)
		return handle(r, ctx)
	}, func(err error) bool { return errors.Is(err, errPermanent) })
	return r, c
}

// run consumes until the returned stop is called, which waits for Run.
func (r *rig) run(c *Consumer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := c.Setup(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx, cons) })
	return func() { cancel(); wg.Wait() }
}

func (r *rig) publish() {
	r.t.Helper()
	rec, err := events.UploadedRecord(meta.Photo{ID: "06h4cr12wqasf1z3nde7j1njec", CreatedAt: time.Now()})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, &nats.Msg{Subject: natsrelay.Subject(r.st.Prefix, rec.Kind), Data: rec.Payload}, jetstream.WithMsgID(rec.ID)); err != nil {
		r.t.Fatal(err)
	}
}

// until waits for cond, checked whenever the consumer's state may have
// changed (every 10 ms), for at most 30 s.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("not within 30 s: %s (handler called %d times)", what, r.calls.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling the server's consumer state
	}
}

func (r *rig) settled() bool {
	info := r.st.Consumer(r.t, r.cfg.Name)
	return info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
}

// A handler that works longer than the ack wait is kept alive: the event
// is delivered once and acknowledged.
func TestAWorkLongerThanTheAckWaitIsDeliveredOnce(t *testing.T) {
	r, c := newRig(t, func(_ *rig, ctx context.Context) error {
		time.Sleep(2500 * time.Millisecond)
		return nil
	}, func(cfg *Config) { cfg.AckWait = time.Second })
	stop := r.run(c)
	defer stop()
	r.publish()
	r.until("the event is acknowledged", func() bool { return r.calls.Load() == 1 && r.settled() })
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("handled %d times, want once", n)
	}
}

// A failing handler is retried with a doubling delay, and the event is
// dead-lettered after MaxDeliver attempts.
func TestFailuresAreRetriedWithDoublingDelaysThenDeadLettered(t *testing.T) {
	var at []time.Time
	var mu sync.Mutex
	r, c := newRig(t, func(_ *rig, _ context.Context) error {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return errors.New("boom")
	}, nil)
	stop := r.run(c)
	defer stop()
	r.publish()
	r.until("a dead letter", func() bool { return len(r.st.DeadLetters(t)) == 1 })
	dead := r.st.DeadLetters(t)[0]
	if got := dead.Header.Get(HeaderReason); got != "still failing after 3 attempts: boom" || dead.Header.Get(HeaderDeliveries) != "3" {
		t.Fatalf("dead letter: %v", dead.Header)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 3 || at[1].Sub(at[0]) < 50*time.Millisecond || at[2].Sub(at[1]) < 100*time.Millisecond {
		t.Fatalf("attempts at %v, want 3 with 50 ms then 100 ms between", at)
	}
}

// An error no retry can fix is dead-lettered at the first attempt.
func TestPermanentErrorsAreDeadLetteredAtOnce(t *testing.T) {
	r, c := newRig(t, func(_ *rig, _ context.Context) error { return errPermanent }, nil)
	stop := r.run(c)
	defer stop()
	r.publish()
	r.until("a dead letter", func() bool { return len(r.st.DeadLetters(t)) == 1 })
	r.until("the event is terminated", r.settled)
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("handled %d times, want once", n)
	}
	if got := r.st.DeadLetters(t)[0].Header.Get(HeaderReason); got != "never works" {
		t.Fatalf("reason %q", got)
	}
}

// On shutdown a handler gets ShutdownTimeout to finish; past it, its event
// is given back and delivered again at once (the ack wait is a minute).
func TestShutdownGivesBackWhatCannotFinish(t *testing.T) {
	started := make(chan struct{}, 2)
	r, c := newRig(t, func(r *rig, ctx context.Context) error {
		started <- struct{}{}
		if r.calls.Load() == 1 {
			<-ctx.Done() // never done in time
			return ctx.Err()
		}
		return nil
	}, func(cfg *Config) { cfg.ShutdownTimeout = 100 * time.Millisecond })
	stop := r.run(c)
	r.publish()
	<-started
	begin := time.Now()
	stop()
	if took := time.Since(begin); took < 100*time.Millisecond || took > 10*time.Second {
		t.Fatalf("Run returned %v after the stop, want just after the 100 ms of grace", took)
	}
	again := r.run(c)
	defer again()
	r.until("the event is handled again and acknowledged", func() bool { return r.calls.Load() == 2 && r.settled() })
}
