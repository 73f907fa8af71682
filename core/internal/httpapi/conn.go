package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
)

// JSONErrorsListener wraps ln so that the errors net/http answers itself,
// before any handler runs (431 for headers over the limit, 400 for a
// malformed request), are JSON like every other error of the API.
func JSONErrorsListener(ln net.Listener) net.Listener { return jsonErrorsListener{ln} }

type jsonErrorsListener struct{ net.Listener }

func (l jsonErrorsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return jsonErrorsConn{c}, nil
}

type jsonErrorsConn struct{ net.Conn }

// plainErrorHeaders follow the status line of the errors net/http writes
// straight to the connection (errorHeaders in net/http's server.go).
// Responses from handlers have their headers sorted, Connection first.
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c jsonErrorsConn) Write(p []byte) (int, error) {
	line, body, ok := bytes.Cut(p, []byte(plainErrorHeaders))
	if !ok || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || bytes.Contains(line, []byte("\r\n")) {
		return c.Conn.Write(p)
	}
	// The body repeats the status line's code and text, maybe with detail.
	msg := string(body[min(len(body), len("431 ")):])
	if bytes.HasPrefix(line, []byte("HTTP/1.1 431 ")) {
		msg += ": send at most 1 MiB of request headers"
	}
	answer, err := json.Marshal(errorJSON{Error: msg})
	if err != nil {
		return 0, err
	}
	answer = append(answer, '\n')
	head := fmt.Sprintf("%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", line, len(answer))
	if _, err := c.Conn.Write(append([]byte(head), answer...)); err != nil {
		return 0, err
	}
	return len(p), nil
}
