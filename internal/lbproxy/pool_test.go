package lbproxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fakeWorker is a load-balancing worker on loopback: /ping answers with
// the code in ping (204 until set to 200), /hold blocks until release is
// closed, any other path answers its name.
type fakeWorker struct {
	name    string
	srv     *httptest.Server
	ping    atomic.Int32
	release chan struct{}
	held    atomic.Int32
}

func newFakeWorker(t *testing.T, name string) *fakeWorker {
	t.Helper()
	f := &fakeWorker{name: name, release: make(chan struct{})}
	f.ping.Store(http.StatusNoContent)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ping":
			w.WriteHeader(int(f.ping.Load()))
		case "/hold":
			f.held.Add(1)
			select {
			case <-f.release:
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, f.name)
		default:
			_, _ = io.WriteString(w, f.name+" "+r.URL.Path+" auth="+r.Header.Get("Authorization"))
		}
	}))
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		f.srv.Close()
	})
	return f
}

func (f *fakeWorker) port(t *testing.T) int {
	u, err := url.Parse(f.srv.URL)
	testutil.NoErr(t, err)
	p, err := strconv.Atoi(u.Port())
	testutil.NoErr(t, err)
	return p
}

func lbEndpointConfig(id string) config.Endpoint {
	return config.Endpoint{ID: id, Type: config.TypeLB, WorkersMax: 3, ScalerValue: 100,
		ColdStartTimeoutSeconds: 1, RequestTimeoutSeconds: 30, HealthPort: config.HealthPortSame}
}

func newTestPool(t *testing.T, notify func(string)) *Pool {
	t.Helper()
	p := New(Config{Notify: notify, HealthInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(p.Close)
	p.Update([]config.Endpoint{lbEndpointConfig("ep"), {ID: "queue", Type: config.TypeQueue}})
	return p
}

// serve sends one request through p and returns the recorded answer.
func serve(p *Pool, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer client-key")
	p.ServeLB(rec, req, "ep")
	return rec
}

func waitReady(t *testing.T, p *Pool, n int) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, strconv.Itoa(n)+" ready workers", func() bool {
		ws, err := p.Workers(context.Background(), "ep")
		return err == nil && len(ws) == n
	})
}

func TestInitializingUntilPing200(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, nil)
	w := newFakeWorker(t, "a")
	p.WorkerStarted("ep", "a", w.port(t), w.port(t))
	// While /ping answers 204 the worker is not ready; a request waits and
	// gets 503 at the cold start timeout (1 s).
	rec := serve(p, "GET", "/lb/ep/x")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("with the worker initializing: %d %s", rec.Code, rec.Body)
	}
	if ws, _ := p.Workers(context.Background(), "ep"); len(ws) != 0 {
		t.Errorf("an initializing worker is listed: %+v", ws)
	}
	w.ping.Store(http.StatusOK)
	waitReady(t, p, 1)
	rec = serve(p, "GET", "/lb/ep/some/path?q=1")
	if rec.Code != 200 || rec.Body.String() != "a /some/path auth=" {
		t.Errorf("proxied: %d %q", rec.Code, rec.Body)
	}
}

func TestColdStartWaitsForAWorker(t *testing.T) {
	t.Parallel()
	notified := make(chan string, 10)
	p := newTestPool(t, func(ep string) { notified <- ep })
	w := newFakeWorker(t, "late")
	w.ping.Store(http.StatusOK)
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(p, "POST", "/lb/ep/run") }()
	// The waiting request woke the scaler; the worker it starts takes it.
	select {
	case ep := <-notified:
		if ep != "ep" {
			t.Fatalf("notified %q", ep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no cold start notification")
	}
	st, err := p.QueueStats(context.Background(), "ep")
	testutil.NoErr(t, err)
	if st.Queued != 1 {
		t.Errorf("queue stats while waiting: %+v", st)
	}
	p.WorkerStarted("ep", "late", w.port(t), w.port(t))
	rec := <-done
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "late /run") {
		t.Errorf("after the cold start: %d %q", rec.Code, rec.Body)
	}
}

func TestLeastInFlight(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, nil)
	a, b := newFakeWorker(t, "a"), newFakeWorker(t, "b")
	for _, w := range []*fakeWorker{a, b} {
		w.ping.Store(http.StatusOK)
		p.WorkerStarted("ep", w.name, w.port(t), w.port(t))
	}
	waitReady(t, p, 2)
	// Two held requests land on two workers, one each.
	held := make(chan *httptest.ResponseRecorder, 2)
	for range 2 {
		go func() { held <- serve(p, "GET", "/lb/ep/hold") }()
	}
	testutil.WaitFor(t, 10*time.Second, "one held request on each worker", func() bool { return a.held.Load() == 1 && b.held.Load() == 1 })
	st, err := p.QueueStats(context.Background(), "ep")
	testutil.NoErr(t, err)
	ws, err := p.Workers(context.Background(), "ep")
	testutil.NoErr(t, err)
	if st.InProgress != 2 || len(ws) != 2 || len(ws[0].Jobs) != 1 || len(ws[1].Jobs) != 1 {
		t.Errorf("figures with one request on each worker: %+v %+v", st, ws)
	}
	close(a.release)
	if rec := <-held; rec.Code != 200 || rec.Body.String() != "a" {
		t.Fatalf("first released: %d %q", rec.Code, rec.Body)
	}
	// b still holds one: the next request goes to a, and says so.
	if rec := serve(p, "GET", "/lb/ep/next"); !strings.HasPrefix(rec.Body.String(), "a ") || rec.Header().Get(HeaderWorkerID) != "a" {
		t.Errorf("next request went to %q (%s %q), want the idle worker a", rec.Body, HeaderWorkerID, rec.Header().Get(HeaderWorkerID))
	}
	// Soft affinity: a request naming b goes to b though b is busier.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/lb/ep/pinned", nil)
	req.Header.Set(HeaderWorkerID, "b")
	p.ServeLB(rec, req, "ep")
	if !strings.HasPrefix(rec.Body.String(), "b ") {
		t.Errorf("a request pinned to b went to %q", rec.Body)
	}
	close(b.release)
	<-held
}

func TestWorkerGoneMidRequest(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, nil)
	a, b := newFakeWorker(t, "a"), newFakeWorker(t, "b")
	a.ping.Store(http.StatusOK)
	p.WorkerStarted("ep", "a", a.port(t), a.port(t))
	waitReady(t, p, 1)
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(p, "GET", "/lb/ep/hold") }()
	testutil.WaitFor(t, 10*time.Second, "the held request", func() bool { return a.held.Load() == 1 })
	b.ping.Store(http.StatusOK)
	p.WorkerStarted("ep", "b", b.port(t), b.port(t))
	waitReady(t, p, 2)
	a.ping.Store(http.StatusInternalServerError)
	a.srv.CloseClientConnections() // the worker's connections break mid-request
	rec := <-done
	var body struct{ Error string }
	testutil.NoErr(t, json.Unmarshal(rec.Body.Bytes(), &body))
	if rec.Code != http.StatusBadGateway || !strings.Contains(body.Error, "worker a of endpoint ep failed mid-request") {
		t.Fatalf("request on the broken worker: %d %s", rec.Code, rec.Body)
	}
	for range 3 {
		if rec := serve(p, "GET", "/lb/ep/after"); !strings.HasPrefix(rec.Body.String(), "b ") {
			t.Errorf("a request after the failure went to %q", rec.Body)
		}
	}
}

func TestNoWorkerAnswers(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, nil)
	_, _ = p.FailQueued(context.Background(), "ep", "endpoint ep is crash-looping")
	rec := serve(p, "GET", "/lb/ep/x")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "crash-looping") {
		t.Errorf("crash loop: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	p.ServeLB(rec, httptest.NewRequest("GET", "/lb/queue/x", nil), "queue")
	if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("a queue endpoint: %d %s", rec.Code, rec.Body)
	}
	_, _ = p.FailQueued(context.Background(), "ep", "")
	p.Stopping()
	if rec := serve(p, "GET", "/lb/ep/x"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Errorf("while stopping: %d %s", rec.Code, rec.Body)
	}
	p.Update(nil)
	if rec := serve(p, "GET", "/lb/ep/x"); rec.Code != http.StatusNotFound {
		t.Errorf("a removed endpoint: %d %s", rec.Code, rec.Body)
	}
}

func TestWorkerPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/lb/ep": "/", "/lb/ep/": "/", "/lb/ep/a/b": "/a/b", "/lb/ep/a%2Fb": "/a%2Fb", "/lb/epx/y": "/lb/epx/y", "": "", "/other": "/other"} {
		if got := workerPath(in, "ep"); got != want {
			t.Errorf("workerPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzWorkerPath(f *testing.F) {
	for _, s := range []string{"/lb/ep/x", "/lb/ep", "/lb/epx/y", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := workerPath(path, "ep")
		if path != "" && got == "" {
			t.Fatalf("workerPath(%q) is empty", path)
		}
		if (path == "/lb/ep" || strings.HasPrefix(path, "/lb/ep/")) && !strings.HasPrefix(got, "/") {
			t.Fatalf("workerPath(%q) = %q lacks a leading slash", path, got)
		}
	})
}
