package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJSONErrors: errors net/http answers itself, before any handler (431
// for over-large headers, 400 for a malformed request), reach the client
// as JSON; handler responses pass unchanged.
func TestJSONErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "from the handler")
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(jsonErrors(ln)) }()
	defer func() {
		// Shutdown (not Close) waits for the connections that got a canned
		// error, which linger 500 ms after it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	raw := func(req string) *http.Response {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() { _, _ = io.WriteString(c, req) }() // the server may answer before it read it all
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		return resp
	}
	for name, c := range map[string]struct {
		req  string
		code int
	}{
		"headers over the limit": {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("x", 2<<20) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		"malformed request":      {"NOT A REQUEST\r\n\r\n", http.StatusBadRequest},
	} {
		resp := raw(c.req)
		var body struct{ Error string }
		err := json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != "application/json" || err != nil || body.Error == "" {
			t.Errorf("%s: %d %q %v %+v, want %d with a JSON error", name, resp.StatusCode, resp.Header.Get("Content-Type"), err, body, c.code)
		}
	}
	resp := raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || string(b) != "from the handler" {
		t.Errorf("a handler's own response was changed: %d %q", resp.StatusCode, b)
	}
}
