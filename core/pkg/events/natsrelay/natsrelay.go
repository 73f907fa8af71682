// Package natsrelay publishes the events of the stack's outbox to NATS
// JetStream (nats.go's jetstream package). Each event goes to
// "<prefix>.<kind>" (pixie.photo.uploaded, pixie.photo.deleted) in the
// stream "<PREFIX>_PHOTOS", with its event ID as the message ID, so a
// publication that a retry repeats is stored once (within the stream's
// duplicate window). The relay never blocks requests: they only write the
// outbox; the relay drains it, retrying with backoff while NATS is down.
// It depends on nothing of the APIs, so plugins share its names and its way
// of connecting.
package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pixie-photos/pixie/core/pkg/events"
)

// DefaultPrefix starts every subject unless configured otherwise.
const DefaultPrefix = "pixie"

// Limits of the stream.
const (
	streamMaxAge     = 7 * 24 * time.Hour
	streamMaxBytes   = 1 << 30
	duplicatesWindow = 10 * time.Minute
)

// StreamName is the stream holding the events of prefix.
func StreamName(prefix string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, "-", "_")) + "_PHOTOS"
}

// Subject is where events of kind are published.
func Subject(prefix, kind string) string { return prefix + "." + kind }

// StreamConfig is the stream the relay creates or updates at start: file
// storage, a week or 1 GiB of events (the oldest dropped first), and a
// duplicate window of 10 minutes for message IDs.
func StreamConfig(prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName(prefix),
		Description: "pixie photo events",
		Subjects:    []string{prefix + ".photo.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      streamMaxAge,
		MaxBytes:    streamMaxBytes,
		Duplicates:  duplicatesWindow,
	}
}

// Dead letters: an event a consumer gives up on is published, with the
// reason in its headers, on "<prefix>.deadletter.<consumer>" in the stream
// "<PREFIX>_DEADLETTER", which keeps them for 30 days (at most 256 MiB), so
// an operator can read and replay them.
const (
	deadLetterMaxAge   = 30 * 24 * time.Hour
	deadLetterMaxBytes = 256 << 20
)

// DeadLetterStreamName is the stream of dead letters of prefix.
func DeadLetterStreamName(prefix string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, "-", "_")) + "_DEADLETTER"
}

// DeadLetterSubject is where consumer publishes the events it gives up on.
func DeadLetterSubject(prefix, consumer string) string {
	return prefix + ".deadletter." + consumer
}

// DeadLetterStreamConfig is the stream consumers create or update before
// their first dead letter; its duplicate window makes a dead letter
// published twice (with the same message ID) stored once.
func DeadLetterStreamConfig(prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadLetterStreamName(prefix),
		Description: "pixie events that a consumer gave up on, with the reason",
		Subjects:    []string{prefix + ".deadletter.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      deadLetterMaxAge,
		MaxBytes:    deadLetterMaxBytes,
		Duplicates:  duplicatesWindow,
	}
}

// Outbox is where the relay takes events from (pgmeta.Store).
type Outbox interface {
	DrainOutbox(ctx context.Context, max int, publish func(context.Context, events.Record) error) (int, error)
}

// Config says where NATS is.
type Config struct {
	URL string
	// CredsFile, when set, is a NATS credentials file (JWT and seed).
	CredsFile string
	Prefix    string
	Logger    *slog.Logger
}

// Timing of the relay.
const (
	batchSize      = 100
	pollInterval   = time.Second // catches events other replicas left behind
	publishTimeout = 5 * time.Second
	minBackoff     = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
)

// Relay is safe for concurrent use.
type Relay struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	outbox Outbox
	prefix string
	logger *slog.Logger
	kick   chan struct{}

	mu        sync.Mutex
	streamOK  bool
	lastError error
}

// New connects to NATS in the background (Connect).
func New(cfg Config, outbox Outbox) (*Relay, error) {
	r := &Relay{outbox: outbox, prefix: cfg.Prefix, logger: cfg.Logger, kick: make(chan struct{}, 1)}
	nc, js, err := Connect(cfg.URL, cfg.CredsFile, "pixie-core",
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				r.logger.Warn("nats disconnected; events wait in the outbox", slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			r.logger.Info("nats reconnected", slog.String("server", nc.ConnectedUrlRedacted()))
			r.Kick()
		}))
	if err != nil {
		return nil, err
	}
	r.nc, r.js = nc, js
	return r, nil
}

// Connect connects to NATS as every pixie process does: in the background,
// so a server that is down is not an error here, retrying and reconnecting
// forever; name is the client name servers list it under, and opts add
// handlers.
func Connect(url, credsFile, name string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	opts = append([]nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(5 * time.Second),
	}, opts...)
	if credsFile != "" {
		opts = append(opts, nats.UserCredentials(credsFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats: %w", err)
	}
	return nc, js, nil
}

// Kick makes the relay look at the outbox now, e.g. after a commit that
// wrote an event. It never blocks.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	backoff := time.Duration(0)
	for {
		n, err := r.outbox.DrainOutbox(ctx, batchSize, r.publish)
		r.setError(err)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if backoff == minBackoff {
				r.logger.Warn("relaying events failed; retrying with backoff", slog.Any("error", err))
			}
		case n == batchSize:
			backoff = 0
			continue // more are waiting
		default:
			if backoff > 0 {
				r.logger.Info("relaying events again")
			}
			backoff = 0
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff): // kicks wait in their channel
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-poll.C:
		}
	}
}

func (r *Relay) publish(ctx context.Context, e events.Record) error {
	if !r.nc.IsConnected() {
		return fmt.Errorf("nats is not connected (%s)", r.nc.Status())
	}
	if err := r.ensureStream(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := r.js.PublishMsg(ctx, &nats.Msg{Subject: Subject(r.prefix, e.Kind), Data: e.Payload},
		jetstream.WithMsgID(e.ID), jetstream.WithExpectStream(StreamName(r.prefix)))
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		r.mu.Lock()
		r.streamOK = false // deleted, or a server without our store: make it again
		r.mu.Unlock()
	}
	return err
}

func (r *Relay) ensureStream(ctx context.Context) error {
	r.mu.Lock()
	ok := r.streamOK
	r.mu.Unlock()
	if ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := r.js.CreateOrUpdateStream(ctx, StreamConfig(r.prefix)); err != nil {
		return fmt.Errorf("create or update stream %s: %w", StreamName(r.prefix), err)
	}
	r.mu.Lock()
	r.streamOK = true
	r.mu.Unlock()
	return nil
}

func (r *Relay) setError(err error) {
	r.mu.Lock()
	r.lastError = err
	r.mu.Unlock()
}

// Status says how events are flowing, for /readyz.
func (r *Relay) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.nc.IsConnected():
		return "disconnected (events wait in the outbox)"
	case r.lastError != nil:
		return "failing: " + r.lastError.Error()
	}
	return "connected"
}

// Close ends the connection.
func (r *Relay) Close() { r.nc.Close() }

// Redact drops user information (which may hold a password or token)
// from a NATS URL list.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
