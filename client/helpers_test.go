package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Main(m)
}

// seen is one request as the fake server received it.
type seen struct {
	Method string
	Path   string
	Raw    string // escaped path
	Query  string
	Header http.Header
	Body   []byte
}

// fake is an httptest server on 127.0.0.1 that records requests and
// answers them with handle.
type fake struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []seen
	handle func(w http.ResponseWriter, r *http.Request, n int) // n: 0-based request number
}

func newFake(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	t.Helper()
	f := &fake{t: t, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		f.handle(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// client returns a client for the fake with fast retries and polls.
func (f *fake) client(opts ...client.Option) *client.Client {
	base := []client.Option{
		client.WithBackoff(time.Millisecond, 5*time.Millisecond),
		client.WithPollInterval(time.Millisecond, 5*time.Millisecond),
	}
	return client.New(f.srv.URL, "test-key", append(base, opts...)...)
}

func reply(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
