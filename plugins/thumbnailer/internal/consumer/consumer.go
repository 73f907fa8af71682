// Package consumer delivers photo events from JetStream to a handler, at
// least once, through a durable pull consumer of pixie-core's event stream:
//
//   - an event is acknowledged only once the handler succeeded, and the
//     acknowledgement is confirmed by the server (double ack); while the
//     handler works, the delivery is kept alive (in progress) so a slow
//     render is not delivered twice;
//   - a failed attempt is given back with a delay that doubles from
//     RetryBackoff (at most MaxRetryDelay), up to MaxDeliver attempts;
//   - an event whose error no retry can fix, or still failing after
//     MaxDeliver attempts, is published on the dead-letter subject with the
//     reason in its headers, then terminated. So is an event whose
//     MaxDeliver attempts all ended without an answer (the process stopped
//     or crashed while handling it): JetStream delivers it once more, and
//     that delivery only writes the dead letter;
//   - on shutdown no new event is taken; each event in hand gets
//     ShutdownTimeout to finish, and is otherwise given back at once, for
//     another process to take.
//
// Handlers must be idempotent: a crash between success and acknowledgement
// delivers the event again.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
)

// MaxRetryDelay bounds the delay before a retry.
const MaxRetryDelay = 5 * time.Minute

// Headers of a dead letter, beside the event's own payload.
const (
	HeaderReason     = "Pixie-Dead-Letter-Reason"
	HeaderSubject    = "Pixie-Subject"
	HeaderSequence   = "Pixie-Stream-Sequence"
	HeaderDeliveries = "Pixie-Deliveries"
	HeaderEventID    = "Pixie-Event-Id"
)

// fetchWait bounds one pull, so a stopping worker notices within it.
const fetchWait = 5 * time.Second

// Config is how events are consumed.
type Config struct {
	// Prefix starts the subjects (pixie-core's PIXIE_NATS_PREFIX).
	Prefix string
	// Name is the durable consumer's and the dead-letter subject's.
	Name string
	// Kinds are the event kinds consumed (events.KindUploaded, …).
	Kinds           []string
	Workers         int
	MaxDeliver      int
	AckWait         time.Duration
	RetryBackoff    time.Duration
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Handler does what one event asks. It returns nil when done, an error
// that permanent recognises when no retry can help, or another error to
// be retried.
type Handler func(ctx context.Context, event proto.Message) error

// Consumer is safe for concurrent use.
type Consumer struct {
	js        jetstream.JetStream
	cfg       Config
	handle    Handler
	permanent func(error) bool
	logger    *slog.Logger
}

// New consumes with js.
func New(js jetstream.JetStream, cfg Config, handle Handler, permanent func(error) bool) *Consumer {
	return &Consumer{js: js, cfg: cfg, handle: handle, permanent: permanent, logger: cfg.Logger}
}

// Setup creates or updates the event stream (with pixie-core's own
// configuration, so whichever starts first makes it), the dead-letter
// stream and the durable consumer.
func (c *Consumer) Setup(ctx context.Context) (jetstream.Consumer, error) {
	for _, stream := range []jetstream.StreamConfig{natsrelay.StreamConfig(c.cfg.Prefix), natsrelay.DeadLetterStreamConfig(c.cfg.Prefix)} {
		if _, err := c.js.CreateOrUpdateStream(ctx, stream); err != nil {
			return nil, fmt.Errorf("create or update stream %s: %w", stream.Name, err)
		}
	}
	subjects := make([]string, len(c.cfg.Kinds))
	for i, kind := range c.cfg.Kinds {
		subjects[i] = natsrelay.Subject(c.cfg.Prefix, kind)
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, natsrelay.StreamName(c.cfg.Prefix), jetstream.ConsumerConfig{
		Durable:        c.cfg.Name,
		Description:    c.cfg.Name + " of pixie photo events",
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.cfg.AckWait,
		// One delivery beyond the attempts, to dead-letter an event whose
		// attempts all went unanswered.
		MaxDeliver:    c.cfg.MaxDeliver + 1,
		MaxAckPending: 4 * c.cfg.Workers,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s: %w", c.cfg.Name, err)
	}
	return cons, nil
}

// Run consumes with Workers workers until stop ends, then returns once
// every event in hand is finished or given back.
func (c *Consumer) Run(stop context.Context, cons jetstream.Consumer) {
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() { c.work(stop, cons) })
	}
	wg.Wait()
}

func (c *Consumer) work(stop context.Context, cons jetstream.Consumer) {
	failures := 0
	for stop.Err() == nil {
		fetch, cancel := context.WithTimeout(stop, fetchWait)
		msg, err := cons.Next(jetstream.FetchContext(fetch))
		cancel()
		switch {
		case err == nil:
			failures = 0
			c.process(stop, msg)
		case stop.Err() != nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		default:
			// NATS down or the consumer gone: wait, then pull again.
			if failures++; failures == 1 {
				c.logger.Warn("pulling events failed; retrying", slog.Any("error", err))
			}
			select {
			case <-stop.Done():
			case <-time.After(min(time.Duration(failures)*time.Second, 10*time.Second)):
			}
		}
	}
}

// process handles one delivery and answers it.
func (c *Consumer) process(stop context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.logger.Error("delivery without metadata; giving it back", slog.Any("error", err))
		_ = msg.Nak()
		return
	}
	log := c.logger.With(slog.String("subject", msg.Subject()), slog.Uint64("stream_seq", md.Sequence.Stream),
		slog.Uint64("delivery", md.NumDelivered))
	if int(md.NumDelivered) > c.cfg.MaxDeliver {
		c.deadLetter(msg, md, log, fmt.Sprintf("none of %d attempts answered: the process stopped or crashed while handling it", c.cfg.MaxDeliver))
		return
	}
	event, err := events.Decode(strings.TrimPrefix(msg.Subject(), c.cfg.Prefix+"."), msg.Data())
	if err != nil {
		c.deadLetter(msg, md, log, "malformed event: "+err.Error())
		return
	}
	log.Debug("handling event")
	ctx, cancel := workContext(stop, c.cfg.ShutdownTimeout)
	defer cancel()
	stopBeat := keepAlive(msg, c.cfg.AckWait/3)
	err = c.handle(ctx, event)
	stopBeat()
	switch {
	case err == nil:
		answer, cancel := context.WithTimeout(context.WithoutCancel(stop), 5*time.Second)
		defer cancel()
		if err := msg.DoubleAck(answer); err != nil {
			log.Warn("acknowledgement not confirmed; the event will come again", slog.Any("error", err))
		}
	case stop.Err() != nil && ctx.Err() != nil:
		log.Warn("shutting down before the event was done; giving it back", slog.Any("error", err))
		_ = msg.Nak()
	case c.permanent(err):
		c.deadLetter(msg, md, log, err.Error())
	case int(md.NumDelivered) >= c.cfg.MaxDeliver:
		c.deadLetter(msg, md, log, fmt.Sprintf("still failing after %d attempts: %v", md.NumDelivered, err))
	default:
		delay := c.retryDelay(md.NumDelivered)
		log.Warn("event failed; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		_ = msg.NakWithDelay(delay)
	}
}

// retryDelay is the delay after failed attempt n (1, 2, …).
func (c *Consumer) retryDelay(n uint64) time.Duration {
	delay := c.cfg.RetryBackoff
	for ; n > 1 && delay < MaxRetryDelay; n-- {
		delay *= 2
	}
	return min(delay, MaxRetryDelay)
}

// deadLetter publishes the event with the reason on the dead-letter subject
// and terminates it; if publishing fails, the event is given back to try
// again. The message ID makes a dead letter published twice stored once.
func (c *Consumer) deadLetter(msg jetstream.Msg, md *jetstream.MsgMetadata, log *slog.Logger, reason string) {
	reason = strings.Join(strings.Fields(reason), " ") // one line
	header := nats.Header{}
	header.Set(HeaderReason, reason)
	header.Set(HeaderSubject, msg.Subject())
	header.Set(HeaderSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	header.Set(HeaderDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		header.Set(HeaderEventID, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: natsrelay.DeadLetterSubject(c.cfg.Prefix, c.cfg.Name), Data: msg.Data(), Header: header},
		jetstream.WithMsgID(fmt.Sprintf("%s-%d", c.cfg.Name, md.Sequence.Stream)),
		jetstream.WithExpectStream(natsrelay.DeadLetterStreamName(c.cfg.Prefix)))
	if err != nil {
		log.Error("publishing a dead letter failed; the event comes again", slog.String("reason", reason), slog.Any("error", err))
		_ = msg.NakWithDelay(c.retryDelay(md.NumDelivered))
		return
	}
	_ = msg.TermWithReason(reason)
	log.Warn("event dead-lettered", slog.String("reason", reason))
}

// workContext is a handler's context: it outlives stop by at most grace.
func workContext(stop context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	go func() {
		select {
		case <-ctx.Done():
		case <-stop.Done():
			select {
			case <-ctx.Done():
			case <-time.After(grace):
				cancel()
			}
		}
	}()
	return ctx, cancel
}

// keepAlive tells the server every interval that msg is in progress, until
// the returned function is called.
func keepAlive(msg jetstream.Msg, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
