package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/pkg/events"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

func TestPublishReachesEverySubscriberInOrder(t *testing.T) {
	var bus events.Bus
	var got []string
	bus.Subscribe(func(_ context.Context, e proto.Message) { got = append(got, "a:"+e.(*photov1.PhotoDeleted).GetId()) })
	bus.Subscribe(func(_ context.Context, e proto.Message) { got = append(got, "b:"+e.(*photov1.PhotoDeleted).GetId()) })

	bus.Publish(context.Background(), &photov1.PhotoDeleted{Id: "x1"})
	if len(got) != 2 || got[0] != "a:x1" || got[1] != "b:x1" {
		t.Fatalf("deliveries = %v", got)
	}
}

// An event published before anyone subscribed is dropped, not replayed to
// a later subscriber.
func TestEventsBeforeSubscribingAreNotReplayed(t *testing.T) {
	var bus events.Bus
	bus.Publish(context.Background(), &photov1.PhotoDeleted{Id: "nobody listens"})
	var got []string
	bus.Subscribe(func(_ context.Context, e proto.Message) { got = append(got, e.(*photov1.PhotoDeleted).GetId()) })
	bus.Publish(context.Background(), &photov1.PhotoDeleted{Id: "x2"})
	if len(got) != 1 || got[0] != "x2" {
		t.Fatalf("subscriber received %v, want only x2", got)
	}
}

func TestLogHandlerWritesStructuredEvent(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	var bus events.Bus
	bus.Subscribe(events.LogHandler(logger))
	bus.Publish(context.Background(), &photov1.PhotoUploaded{Photo: &photov1.Photo{Id: "abc", Filename: "cat.png", ContentType: "image/png"}})

	var line struct {
		Msg     string `json:"msg"`
		Type    string `json:"type"`
		Payload struct {
			Photo struct {
				ID       string `json:"id"`
				Filename string `json:"filename"`
				Content  string `json:"content_type"`
			} `json:"photo"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line is not JSON: %v: %s", err, buf.String())
	}
	if line.Msg != "event" || line.Type != "photo.v1.PhotoUploaded" || line.Payload.Photo.ID != "abc" || line.Payload.Photo.Filename != "cat.png" ||
		line.Payload.Photo.Content != "image/png" {
		t.Fatalf("unexpected log line: %s", buf.String())
	}
}
