// Package s3blob keeps blobs in an S3 bucket (aws-sdk-go-v2): the stack's
// originals and thumbnails, shared by every replica. It speaks to any S3
// server: path-style addressing, a configurable region, and checksums only
// where an operation requires them (the SDK's default CRC32 on every
// request, since s3 v1.73, breaks many non-AWS servers). Objects above the
// part size go up as multipart uploads, which are aborted on failure; the
// sweeper aborts those a dead process left. It depends on nothing of the
// APIs, so plugins can share it.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pixie-photos/pixie/core/pkg/blob"
)

// Defaults of Config.
const (
	DefaultRegion   = "us-east-1"
	DefaultPartSize = 16 << 20
	DefaultMaxConns = 32
	// MinPartSize is S3's smallest part (but the last).
	MinPartSize = 5 << 20
)

// Config says where the bucket is and how to reach it.
type Config struct {
	// Endpoint is the server's URL, e.g. http://127.0.0.1:7070.
	Endpoint  string
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	// PartSize is the size of multipart upload parts; objects up to it go
	// up in one request. At least MinPartSize.
	PartSize int64
	// MaxConns bounds the connections to the server.
	MaxConns int
	// ConnectTimeout bounds each connection attempt.
	ConnectTimeout time.Duration
}

// Store is safe for concurrent use.
type Store struct {
	client   *s3.Client
	bucket   string
	server   string
	partSize int64
}

var _ blob.Store = (*Store)(nil)

// New makes the client; it connects lazily, so a server that is down is
// not an error here.
func New(cfg Config) (*Store, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3 part size %d is below S3's minimum of %d", cfg.PartSize, MinPartSize)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = cfg.ConnectTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxConnsPerHost = cfg.MaxConns
			t.MaxIdleConnsPerHost = cfg.MaxConns
		})
	creds := aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, Source: "pixie settings"}
	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 httpClient,
		// A quick second try covers a pooled connection the server closed;
		// an outage is the caller's to wait out, so no retry quota either.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 200 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
	return &Store{client: client, bucket: cfg.Bucket, server: cfg.Endpoint + "/" + cfg.Bucket, partSize: cfg.PartSize}, nil
}

// Server names the bucket: endpoint/bucket.
func (s *Store) Server() string { return s.server }

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil || !isNotFound(err) {
		return s.classify(err)
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) { // another replica was quicker
		return nil
	}
	return s.classify(err)
}

// Ping implements blob.Store.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if isNotFound(err) {
		return fmt.Errorf("s3 at %s %w: the bucket does not exist", s.server, blob.ErrUnavailable)
	}
	return s.classify(err)
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if int64(len(data)) > s.partSize {
		return s.putMultipart(ctx, key, data, contentType)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   &contentType,
	})
	return s.classify(err)
}

// putMultipart uploads data in parts of partSize, one after another, and
// aborts the upload if any step fails.
func (s *Store) putMultipart(ctx context.Context, key string, data []byte, contentType string) error {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key, ContentType: &contentType})
	if err != nil {
		return s.classify(err)
	}
	err = func() error {
		var parts []types.CompletedPart
		for n, off := int32(1), int64(0); off < int64(len(data)); n, off = n+1, off+s.partSize {
			chunk := data[off:min(off+s.partSize, int64(len(data)))]
			part, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket:        &s.bucket,
				Key:           &key,
				UploadId:      up.UploadId,
				PartNumber:    aws.Int32(n),
				Body:          bytes.NewReader(chunk),
				ContentLength: aws.Int64(int64(len(chunk))),
			})
			if err != nil {
				return err
			}
			parts = append(parts, types.CompletedPart{ETag: part.ETag, PartNumber: aws.Int32(n)})
		}
		_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          &s.bucket,
			Key:             &key,
			UploadId:        up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		return err
	}()
	if err != nil {
		// Detached: a caller that gave up must not leave the parts behind;
		// if this fails too, the sweeper aborts the upload later.
		abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(abortCtx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId})
		return s.classify(err)
	}
	return nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, s.classify(err)
	}
	return &object{s: s, ctx: ctx, key: key, size: aws.ToInt64(out.ContentLength), body: out.Body}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return nil
	}
	return s.classify(err)
}

// DeletePrefix implements blob.Store. Objects go one request each: a
// photo has at most a handful, and DeleteObjects needs a checksum that
// not every server accepts.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	var keys []string
	if err := s.List(ctx, prefix, func(info blob.Info) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, key := range keys {
		if err := s.Delete(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.classify(err)
		}
		for _, o := range page.Contents {
			if err := fn(blob.Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// AbortStaleUploads aborts multipart uploads started before the time
// given: a process that died while uploading leaves its parts otherwise.
func (s *Store) AbortStaleUploads(ctx context.Context, startedBefore time.Time) (int, error) {
	aborted := 0
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, s.classify(err)
		}
		for _, u := range out.Uploads {
			if !aws.ToTime(u.Initiated).Before(startedBefore) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil && !isNotFound(err) {
				return aborted, s.classify(err)
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// object reads lazily: a read at another offset than the open body's
// reopens it with a range, so seeking costs nothing until the next read.
type object struct {
	s       *Store
	ctx     context.Context
	key     string
	size    int64
	off     int64
	body    io.ReadCloser
	bodyOff int64
}

func (o *object) Size() int64 { return o.size }

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.body != nil && o.bodyOff != o.off {
		_ = o.body.Close()
		o.body = nil
	}
	if o.body == nil {
		out, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{
			Bucket: &o.s.bucket,
			Key:    &o.key,
			Range:  aws.String(fmt.Sprintf("bytes=%d-", o.off)),
		})
		if err != nil {
			return 0, o.s.classify(err)
		}
		o.body, o.bodyOff = out.Body, o.off
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.bodyOff += int64(n)
	if err == io.EOF && o.off < o.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	default:
		return o.off, fmt.Errorf("s3blob: bad whence %d", whence)
	}
	if offset < 0 {
		return o.off, errors.New("s3blob: seek before the start")
	}
	o.off = offset
	return offset, nil
}

func (o *object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsu *types.NoSuchUpload
	var resp *awshttp.ResponseError
	return errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsu) ||
		(errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound)
}

// classify maps SDK errors to blob's: a missing object is ErrNotFound; a
// server that cannot be reached or answers 5xx is ErrUnavailable, named
// with the bucket.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	var netErr net.Error
	var resp *awshttp.ResponseError
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &resp) && resp.HTTPStatusCode() >= 500,
		errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded):
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "SlowDown":
	default:
		return err
	}
	return fmt.Errorf("s3 at %s %w: %v", s.server, blob.ErrUnavailable, err)
}
