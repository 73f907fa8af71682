package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pixie-photos/pixie/core/internal/embedded"
	"github.com/pixie-photos/pixie/core/internal/server"
	"github.com/pixie-photos/pixie/core/pkg/imagetest"
	"github.com/pixie-photos/pixie/core/pkg/store"
	photov1 "github.com/pixie-photos/pixie/proto/gen/photo/v1"
)

const testToken = "test-token-0123456789abcdef"

// A client trickling its upload (slowloris) is cut off once the upload
// timeout passes, instead of holding the connection for ever.
func TestTrickledHTTPUploadIsCutOff(t *testing.T) {
	cfg := testConfig(t, 5*time.Second)
	cfg.UploadTimeout = time.Second
	srv, _, _ := startServer(t, cfg)

	conn, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/photos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000\r\n\r\n"+
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.jpg\"\r\n\r\n")
	answered := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- "connection closed: " + err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		answered <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	// 2 bytes every 50ms, about 40 B/s: this would take hours to finish.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	guard := time.After(5 * time.Second)
	for {
		select {
		case got := <-answered:
			took := time.Since(start)
			if !strings.HasPrefix(got, "408 ") || !strings.Contains(got, "PIXIE_UPLOAD_TIMEOUT") {
				t.Fatalf("answer %q, want 408 naming PIXIE_UPLOAD_TIMEOUT", got)
			}
			// Bounds for "the timeout cut it", not a timing target: the server's clock starts at
			// accept, a little before ours, and a loaded machine answers late.
			if took < 500*time.Millisecond || took > 30*time.Second {
				t.Fatalf("cut off after %v, want the 1s upload timeout to end it", took)
			}
			return
		case <-tick.C:
			_, _ = conn.Write([]byte{0xff, 0xd8}) // errors once the server hangs up; the answer says why
		case <-guard:
			t.Fatal("trickled upload still open after 5s")
		}
	}
}

// A declared oversize body is refused before any of it is sent.
func TestOversizeBodyRefusedWithoutReadingIt(t *testing.T) {
	srv, _, _ := startServer(t, testConfig(t, 5*time.Second))
	conn, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /api/photos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10737418240\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("10 GiB declared body: %v %v, want an immediate 413", resp, err)
	}
}

// The errors net/http answers before any handler runs are JSON too.
func TestServerErrorsBeforeAnyHandlerAreJSON(t *testing.T) {
	srv, _, _ := startServer(t, testConfig(t, 5*time.Second))
	for _, tc := range []struct {
		name, request string
		code          int
		says          string
	}{
		{"headers over 1 MiB", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "send at most 1 MiB of request headers"},
		{"a malformed header", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", http.StatusBadRequest, "Bad Request"},
	} {
		conn, err := net.Dial("tcp", srv.HTTPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { _, _ = io.WriteString(conn, tc.request) }() // the server may hang up before reading it all
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var body struct{ Error string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != tc.code ||
			resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body.Error, tc.says) {
			t.Errorf("%s: %d %s %+v (%v); want %d JSON saying %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, err, tc.code, tc.says)
		}
		_ = conn.Close()
	}
}

func dialGRPC(t *testing.T, addr string) photov1.PhotoServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return photov1.NewPhotoServiceClient(conn)
}

func TestTrickledGRPCUploadIsCutOff(t *testing.T) {
	cfg := testConfig(t, 5*time.Second)
	cfg.UploadTimeout = time.Second
	srv, _, _ := startServer(t, cfg)
	client := dialGRPC(t, srv.GRPCAddr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: "slow.jpg"}}})
	for time.Since(start) < 5*time.Second {
		if stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: []byte{0xff}}}) != nil {
			break // the server ended the call
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = stream.CloseAndRecv()
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "PIXIE_UPLOAD_TIMEOUT") {
		t.Fatalf("err = %v, want DeadlineExceeded naming PIXIE_UPLOAD_TIMEOUT", err)
	}
	if took < time.Second || took > 4*time.Second {
		t.Fatalf("cut off after %v, want about the 1s upload timeout", took)
	}
}

func TestGRPCCallsHaveADeadline(t *testing.T) {
	cfg := testConfig(t, 5*time.Second)
	cfg.RPCTimeout = time.Nanosecond
	srv, _, _ := startServer(t, cfg)
	client := dialGRPC(t, srv.GRPCAddr().String())
	stream, err := client.Upload(context.Background()) // streams have PIXIE_UPLOAD_TIMEOUT instead
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: "a.png"}}})
	_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: imagetest.PNG(300, 200, 1)}})
	up, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	// Rendering waits for a decode slot and budget, which honour the
	// server's deadline although the client set none.
	_, err = client.GetThumbnail(context.Background(), &photov1.GetThumbnailRequest{Id: up.GetPhoto().GetId()})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded from PIXIE_RPC_TIMEOUT", err)
	}
}

// rawGRPC opens an HTTP/2 connection to the gRPC server, with the
// client preface and settings sent.
func rawGRPC(t *testing.T, srv *server.Server) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", srv.GRPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// pingUntilGoAway sends pings back to back and returns the server's GOAWAY
// and the stream limit its settings advertised.
func pingUntilGoAway(t *testing.T, fr *http2.Framer) (*http2.GoAwayFrame, uint32) {
	t.Helper()
	for i := range 10 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // the server hung up
		}
	}
	var maxStreams uint32
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended (%v) without GOAWAY", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				maxStreams = v
			}
		case *http2.GoAwayFrame:
			return f, maxStreams
		}
	}
}

// A client that pings without calls in flight is told to calm down and
// disconnected, and the server advertises its stream limit.
func TestGRPCKeepaliveEnforcementAndStreamLimit(t *testing.T) {
	srv, _, _ := startServer(t, testConfig(t, 5*time.Second))
	away, maxStreams := pingUntilGoAway(t, rawGRPC(t, srv))
	if away.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", away.ErrCode)
	}
	if maxStreams != 100 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 100", maxStreams)
	}
}

// A client that pings more often than every 10 s is told to calm down and
// disconnected even while it has a call in flight.
func TestGRPCPingsTooOftenDuringACallGetGoAway(t *testing.T) {
	srv, _, _ := startServer(t, testConfig(t, 5*time.Second))
	fr := rawGRPC(t, srv)
	// An Upload call, left open: its handler waits for the first message.
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", photov1.PhotoService_Upload_FullMethodName},
		{":authority", "pixie"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	away, _ := pingUntilGoAway(t, fr)
	if away.ErrCode != http2.ErrCodeEnhanceYourCalm || string(away.DebugData()) != "too_many_pings" {
		t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", away.ErrCode, away.DebugData())
	}
}

func TestGRPCWritesNeedTheToken(t *testing.T) {
	cfg := testConfig(t, 5*time.Second)
	cfg.APIToken = testToken
	srv, _, _ := startServer(t, cfg)
	client := dialGRPC(t, srv.GRPCAddr().String())
	upload := func(ctx context.Context) error {
		stream, err := client.Upload(ctx)
		if err != nil {
			return err
		}
		_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Metadata{Metadata: &photov1.UploadMetadata{Filename: "a.png"}}})
		_ = stream.Send(&photov1.UploadRequest{Payload: &photov1.UploadRequest_Chunk{Chunk: imagetest.PNG(8, 8, 1)}})
		_, err = stream.CloseAndRecv()
		return err
	}
	bg := context.Background()
	with := func(auth string) context.Context { return metadata.AppendToOutgoingContext(bg, "authorization", auth) }
	for _, ctx := range []context.Context{bg, with("Bearer nope-nope-nope-nope"), with(testToken)} {
		if err := upload(ctx); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("upload without the right token: %v", err)
		}
		_, err := client.Delete(ctx, &photov1.DeleteRequest{Id: strings.Repeat("0", 26)})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("delete without the right token: %v", err)
		}
	}
	if err := upload(with("Bearer " + testToken)); err != nil {
		t.Fatalf("upload with the token: %v", err)
	}
	if _, err := client.List(bg, &photov1.ListRequest{}); err != nil {
		t.Fatalf("reads stay open: %v", err)
	}
	_, err := client.Delete(with("Bearer "+testToken), &photov1.DeleteRequest{Id: strings.Repeat("0", 26)})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("delete with the token reaches the service: %v", err)
	}
}

// Thumbnails cached before sizes snapped to the ladder are dropped at start.
func TestStartDropsThumbnailsOffTheLadder(t *testing.T) {
	cfg := testConfig(t, 5*time.Second)
	st, err := embedded.Open(cfg.DataDir, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := st.Create(context.Background(), store.NewPhoto{Filename: "a.png", ContentType: "image/png", Width: 8, Height: 8, Data: imagetest.PNG(8, 8, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100, 256} {
		if err := st.PutThumbnail(context.Background(), p.ID, size, []byte("jpeg")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	startServer(t, cfg)
	entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "thumbnails", p.ID))
	if err != nil || len(entries) != 1 || entries[0].Name() != "256.jpg" {
		t.Fatalf("thumbnails after start: %v, %v; want only 256.jpg", entries, err)
	}
}
