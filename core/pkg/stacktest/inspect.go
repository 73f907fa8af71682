package stacktest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/events/natsrelay"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// S3Client reaches the test's S3 server directly, to look behind
// pixie-core's back.
func (s Stack) S3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.S3Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.S3AccessKey, SecretAccessKey: s.S3SecretKey}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// DeleteBucket removes a bucket and everything in it; a missing bucket is
// no error.
func DeleteBucket(ctx context.Context, c *s3.Client, bucket string) error {
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var missing *types.NoSuchBucket
		if errors.As(err, &missing) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.Key}); err != nil {
				return err
			}
		}
	}
	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
	return err
}

// ObjectKeys lists the keys in the test's bucket.
func (s Stack) ObjectKeys(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.S3Client(), &s3.ListObjectsV2Input{Bucket: &s.Bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket %s: %v", s.Bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// PhotoIDs reads the photo IDs in the test's database.
func (s Stack) PhotoIDs(t testing.TB) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT id FROM photos")
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// Event is one message of the test's stream.
type Event struct {
	Kind    string
	PhotoID string
	MsgID   string
}

// Events reads every message of the test's stream, in order.
func (s Stack) Events(t testing.TB) []Event {
	t.Helper()
	var out []Event
	for _, msg := range s.streamMessages(t, natsrelay.StreamName(s.Prefix)) {
		kind := msg.Subject[len(s.Prefix)+1:]
		decoded, err := events.Decode(kind, msg.Data)
		if err != nil {
			t.Fatalf("message %d on %s: %v", msg.Sequence, msg.Subject, err)
		}
		out = append(out, Event{Kind: kind, PhotoID: photoID(decoded), MsgID: msg.Header.Get(jetstream.MsgIDHeader)})
	}
	return out
}

// DeadLetters reads every message of the test's dead-letter stream, in
// order: the events consumers gave up on, with the reason in their headers.
func (s Stack) DeadLetters(t testing.TB) []*jetstream.RawStreamMsg {
	t.Helper()
	return s.streamMessages(t, natsrelay.DeadLetterStreamName(s.Prefix))
}

// streamMessages reads every message of a stream of the test's NATS
// server; none when the stream does not exist.
func (s Stack) streamMessages(t testing.TB, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*jetstream.RawStreamMsg
	err := withJetStream(s.NATSURL, func(js jetstream.JetStream) error {
		stream, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			msg, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, msg)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read stream %s: %v", name, err)
	}
	return out
}

// Consumer describes a durable consumer of the test's event stream.
func (s Stack) Consumer(t testing.TB, name string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var info *jetstream.ConsumerInfo
	err := withJetStream(s.NATSURL, func(js jetstream.JetStream) error {
		c, err := js.Consumer(ctx, natsrelay.StreamName(s.Prefix), name)
		if err != nil {
			return err
		}
		info, err = c.Info(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return info
}

// ThumbnailSizes reads the thumbnail index of a photo in the test's
// database, smallest first.
func (s Stack) ThumbnailSizes(t testing.TB, id string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT size FROM thumbnails WHERE photo_id = $1 ORDER BY size", id)
	sizes, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return sizes
}

// Object reads an object of the test's bucket; nil when there is none.
func (s Stack) Object(t testing.TB, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.S3Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

// PutObject replaces an object behind pixie's back, as damage would.
func (s Stack) PutObject(t testing.TB, key string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func photoID(m proto.Message) string {
	switch e := m.(type) {
	case *photov1.PhotoUploaded:
		return e.GetPhoto().GetId()
	case *photov1.PhotoDeleted:
		return e.GetId()
	}
	return ""
}
