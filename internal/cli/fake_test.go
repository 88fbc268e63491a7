package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// request is one request the fake server saw.
type request struct {
	method, path, query, auth string
	body                      []byte
}

// fakeServer is a scripted /v2 server on 127.0.0.1: routes maps
// "METHOD /path" to a handler; anything else is a JSON 404.
type fakeServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	routes map[string]http.HandlerFunc
}

func newFakeServer(t *testing.T, routes map[string]http.HandlerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), body})
		h := f.routes[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if h == nil {
			jsonReply(w, 404, `{"error":"no such route in the fake"}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func jsonReply(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// answer replies with body each time.
func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { jsonReply(w, code, body) }
}

// sequence replies with bodies in turn, repeating the last one.
func sequence(bodies ...string) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := bodies[min(n, len(bodies)-1)]
		n++
		mu.Unlock()
		jsonReply(w, 200, b)
	}
}

// result is what one sluice invocation did.
type result struct {
	code        int
	out, errOut string
}

// sluice runs the command line against the fake with --url and --api-key
// appended to a client command.
func (f *fakeServer) sluice(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runSluice(context.Background(), stdin, append(args, "--url", f.srv.URL, "--api-key", "k1")...)
}

func runSluice(ctx context.Context, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := Execute(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) check(t *testing.T, code int, out, errOut string) {
	t.Helper()
	if r.code != code || r.out != out || r.errOut != errOut {
		t.Errorf("got exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q", r.code, r.out, r.errOut, code, out, errOut)
	}
}
