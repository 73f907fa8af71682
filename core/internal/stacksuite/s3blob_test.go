package stacksuite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pixie-photos/pixie/core/pkg/blob"
	"github.com/pixie-photos/pixie/core/pkg/blob/s3blob"
	"github.com/pixie-photos/pixie/core/pkg/stacktest"
)

// openS3 makes the test's bucket through s3blob, as pixie-core does at
// start.
func openS3(t *testing.T, st stacktest.Stack, partSize int64) *s3blob.Store {
	t.Helper()
	cfg := st.S3Config()
	cfg.PartSize = partSize
	s, err := s3blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket on an existing bucket: %v", err)
	}
	return s
}

func TestS3ObjectsKeepBytesTypeAndServeRanges(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s := openS3(t, st, 0)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := s.Put(ctx, blob.OriginalKey("abc"), data, "image/png"); err != nil {
		t.Fatal(err)
	}
	head, err := st.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &st.Bucket, Key: aws.String("originals/abc")})
	if err != nil || aws.ToString(head.ContentType) != "image/png" {
		t.Fatalf("content type kept: %v %v", head, err)
	}
	obj, err := s.Open(ctx, blob.OriginalKey("abc"))
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	// What http.ServeContent does for a range: size from the end, then seek.
	if end, _ := obj.Seek(0, io.SeekEnd); end != int64(len(data)) || obj.Size() != end {
		t.Fatalf("size %d / %d, want %d", end, obj.Size(), len(data))
	}
	if _, err := obj.Seek(4995, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 10)
	if _, err := io.ReadFull(obj, part); err != nil || string(part) != "5678901234" {
		t.Fatalf("range read %q, %v", part, err)
	}
	_, _ = obj.Seek(0, io.SeekStart)
	if all, err := io.ReadAll(obj); err != nil || !bytes.Equal(all, data) {
		t.Fatalf("full read after seeking back: %d bytes, %v", len(all), err)
	}
	if _, err := s.Open(ctx, blob.OriginalKey("missing")); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}

func TestS3MultipartAboveThePartSize(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s := openS3(t, st, s3blob.MinPartSize)
	data := make([]byte, 2*s3blob.MinPartSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := s.Put(ctx, blob.OriginalKey("big"), data, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	head, err := st.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &st.Bucket, Key: aws.String("originals/big")})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart object's ETag ends in -<parts>.
	if etag := aws.ToString(head.ETag); !bytes.HasSuffix([]byte(etag), []byte(`-3"`)) {
		t.Fatalf("ETag %s: not a 3-part upload", etag)
	}
	obj, err := s.Open(ctx, blob.OriginalKey("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}

func TestS3StaleMultipartUploadsAreAborted(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s := openS3(t, st, 0)
	// A process that died mid-upload leaves an unfinished upload.
	up, err := st.S3Client().CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &st.Bucket, Key: aws.String("originals/dead")})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AbortStaleUploads(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("within the grace: aborted %d, %v", n, err)
	}
	if n, err := s.AbortStaleUploads(ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("after the grace: aborted %d, %v", n, err)
	}
	list, err := st.S3Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &st.Bucket})
	if err != nil || slices.ContainsFunc(list.Uploads, func(u types.MultipartUpload) bool { return aws.ToString(u.UploadId) == aws.ToString(up.UploadId) }) {
		t.Fatalf("upload still listed: %v", err)
	}
}

func TestS3ListAndDeletePrefix(t *testing.T) {
	st := stacktest.Fresh(t, stacktest.Shared())
	s := openS3(t, st, 0)
	for _, key := range []string{blob.ThumbnailKey("p1", 64), blob.ThumbnailKey("p1", 128), blob.ThumbnailKey("p2", 64), blob.OriginalKey("p1")} {
		if err := s.Put(ctx, key, []byte("x"), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeletePrefix(ctx, blob.ThumbnailPrefix("p1")); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := s.List(ctx, "", func(i blob.Info) error { left = append(left, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	if want := []string{"originals/p1", "thumbnails/p2/64.jpg"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if err := s.Delete(ctx, blob.OriginalKey("never-there")); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

func TestS3UnreachableIsUnavailableNamingTheServer(t *testing.T) {
	cfg := s3blob.Config{Endpoint: "http://127.0.0.1:1", Bucket: "pixie", AccessKey: "a", SecretKey: "b"}
	s, err := s3blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = s.Ping(c)
	if !errors.Is(err, blob.ErrUnavailable) || !bytes.Contains([]byte(err.Error()), []byte("s3 at http://127.0.0.1:1/pixie unavailable")) {
		t.Fatalf("err = %v", err)
	}
}
