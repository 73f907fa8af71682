// Package apitest is a client of pixie-core's HTTP and gRPC APIs for tests:
// core's conformance suite and the plugins' tests drive pixie-core through it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

// Photo is the HTTP API's photo.
type Photo struct {
	ID          string    `json:"id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	CreatedAt   time.Time `json:"created_at"`
}

// Client speaks to one pixie-core over HTTP and gRPC.
type Client struct {
	HTTPBase string
	Token    string
	HTTP     *http.Client
	Conn     *grpc.ClientConn
	GRPC     photov1.PhotoServiceClient
}

// NewClient connects to a pixie-core; its cleanup closes the connection.
func NewClient(t testing.TB, httpBase, grpcAddr, token string) *Client {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{HTTPBase: httpBase, Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}, Conn: conn, GRPC: photov1.NewPhotoServiceClient(conn)}
	t.Cleanup(func() {
		_ = conn.Close()
		c.HTTP.CloseIdleConnections()
	})
	return c
}

// Response is an HTTP answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Err is a transport error (no answer at all).
	Err error
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %d is not the expected JSON: %v: %s", r.Status, err, r.Body)
	}
}

// Do sends a request, with the token when the method writes.
func (c *Client) Do(method, path string, body io.Reader, header http.Header) Response {
	req, err := http.NewRequest(method, c.HTTPBase+path, body)
	if err != nil {
		return Response{Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" && method != http.MethodGet && method != http.MethodHead && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Err: err}
}

// Get sends a GET.
func (c *Client) Get(path string, header http.Header) Response {
	return c.Do(http.MethodGet, path, nil, header)
}

// Upload posts data as the multipart field "file".
func (c *Client) Upload(filename string, data []byte) Response {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return c.Do(http.MethodPost, "/api/photos", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
}

// GRPCContext carries the token.
func (c *Client) GRPCContext(ctx context.Context) context.Context {
	if c.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.Token)
}

// UploadGRPC streams data in chunks of 64 KiB after its metadata.
func (c *Client) UploadGRPC(ctx context.Context, filename string, data []byte) (*photov1.UploadResponse, error) {
	stream, err := c.GRPC.Upload(c.GRPCContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: filename}}}); err != nil {
		return stream.CloseAndRecv()
	}
	for len(data) > 0 {
		n := min(64<<10, len(data))
		if err := stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}
