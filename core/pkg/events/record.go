package events

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pixie-photos/pixie/core/pkg/meta"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// Kinds of events. On JetStream an event of kind K is published on the
// subject "<prefix>.K" (by default pixie.photo.uploaded and
// pixie.photo.deleted), its payload the protobuf encoding of the message.
const (
	// KindUploaded carries a photov1.PhotoUploaded.
	KindUploaded = "photo.uploaded"
	// KindDeleted carries a photov1.PhotoDeleted.
	KindDeleted = "photo.deleted"
)

// Record is an event as the outbox keeps it and the relay publishes it.
type Record struct {
	// ID is unique per event and is the JetStream message ID, so a
	// publication repeated by a retry is stored once.
	ID      string
	Kind    string
	Payload []byte
}

// UploadedRecord is the event of a newly stored photo.
func UploadedRecord(p meta.Photo) (Record, error) {
	return newRecord(KindUploaded, &photov1.PhotoUploaded{Photo: p.Proto()})
}

// DeletedRecord is the event of a deleted photo.
func DeletedRecord(id string, at time.Time) (Record, error) {
	return newRecord(KindDeleted, &photov1.PhotoDeleted{Id: id, DeletedAt: timestamppb.New(at)})
}

func newRecord(kind string, msg proto.Message) (Record, error) {
	payload, err := proto.Marshal(msg)
	if err != nil {
		return Record{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	return Record{ID: hex.EncodeToString(id[:]), Kind: kind, Payload: payload}, nil
}

// Decode returns the message of an event of this kind.
func Decode(kind string, payload []byte) (proto.Message, error) {
	var msg proto.Message
	switch kind {
	case KindUploaded:
		msg = &photov1.PhotoUploaded{}
	case KindDeleted:
		msg = &photov1.PhotoDeleted{}
	default:
		return nil, fmt.Errorf("unknown event kind %q", kind)
	}
	if err := proto.Unmarshal(payload, msg); err != nil {
		return nil, fmt.Errorf("decode %s event: %w", kind, err)
	}
	return msg, nil
}
