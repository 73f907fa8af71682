// Package events holds the photo events defined in photo.proto
// (PhotoUploaded, PhotoDeleted): an in-process publish/subscribe bus, and
// their durable form (Record) that the stack's outbox keeps and relays to
// NATS JetStream. It depends on nothing of the APIs, so plugins can share
// it.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Handler receives every published event. It runs synchronously in the
// publisher's goroutine, so it must be quick and must not block.
type Handler func(ctx context.Context, event proto.Message)

// Bus fans each event out to all subscribers. Safe for concurrent use.
type Bus struct {
	mu       sync.RWMutex
	handlers []Handler
}

// Subscribe registers h for all future events.
func (b *Bus) Subscribe(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, h)
}

// Publish delivers event to every subscriber, in subscription order.
func (b *Bus) Publish(ctx context.Context, event proto.Message) {
	b.mu.RLock()
	handlers := b.handlers
	b.mu.RUnlock()
	for _, h := range handlers {
		h(ctx, event)
	}
}

// LogHandler returns the default subscriber: it logs each event at info
// level with its proto type name and its payload as JSON.
func LogHandler(logger *slog.Logger) Handler {
	return func(ctx context.Context, event proto.Message) {
		// Proto field names (snake_case) match the HTTP API's JSON.
		payload, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(event)
		if err != nil {
			logger.ErrorContext(ctx, "encode event", slog.Any("error", err))
			return
		}
		logger.InfoContext(ctx, "event",
			slog.String("type", string(event.ProtoReflect().Descriptor().FullName())),
			slog.Any("payload", json.RawMessage(payload)))
	}
}
