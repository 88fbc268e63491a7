package server

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
)

// cannedHeaders follow the status line of the errors net/http writes
// itself, before any handler runs (431 for headers over MaxHeaderBytes, 400
// for a malformed request, 501 for an unsupported transfer encoding).
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonErrors wraps ln so that those errors are answered as JSON
// {"error": "..."} like every other error of the API.
func jsonErrors(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return jsonErrorConn{c}, nil
}

type jsonErrorConn struct{ net.Conn }

// Write rewrites a canned plain-text error (written in one call, directly
// on the connection) as JSON; every other write passes through.
func (c jsonErrorConn) Write(b []byte) (int, error) {
	if out, ok := cannedToJSON(b); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// cannedToJSON turns "HTTP/1.1 <status>" + cannedHeaders + <text> into the
// same status with a JSON body carrying the text.
func cannedToJSON(b []byte) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 4")) && !bytes.HasPrefix(b, []byte("HTTP/1.1 5")) {
		return nil, false
	}
	status, text, ok := bytes.Cut(b, []byte(cannedHeaders))
	if !ok || bytes.ContainsAny(status, "\r\n") {
		return nil, false
	}
	body, _ := json.Marshal(map[string]string{"error": "request refused before it reached the API: " + string(text)})
	body = append(body, '\n')
	out := make([]byte, 0, len(status)+len(body)+96)
	out = append(out, status...)
	out = append(out, "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n\r\n"...)
	return append(out, body...), true
}
