package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/sluicehq/sluice/internal/engine"
)

// serveForTest runs Serve with opts until the test ends and returns the
// address it listens on.
func serveForTest(t *testing.T, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	opts.Addr = "127.0.0.1:0"
	opts.Ready = func(a string) { ready <- a }
	go func() { served <- Serve(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-served:
		served <- err
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve not ready in 30 s")
	}
	return ""
}

// probe GETs path (no key) and returns the status code, the decoded body
// and the Retry-After header.
func probe(t *testing.T, addr, path string) (int, probeBody, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	var b probeBody
	if err := json.Unmarshal(raw, &b); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: not JSON (%v, %s): %s", path, err, resp.Header.Get("Content-Type"), raw)
	}
	return resp.StatusCode, b, resp.Header.Get("Retry-After")
}

// TestProbesWithoutKey: on a server whose API needs a key, /healthz and
// /readyz answer without one while /v2 refuses.
func TestProbesWithoutKey(t *testing.T) {
	t.Setenv(EnvAPIKeys, "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("apiKeys: [client-key]\nendpoints:\n  - id: a\n  - id: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serveForTest(t, Options{DataDir: filepath.Join(dir, "data"), ConfigPath: cfg})

	if code, b, _ := probe(t, addr, "/healthz"); code != http.StatusOK || b != (probeBody{Status: "ok"}) {
		t.Errorf("/healthz: %d %+v", code, b)
	}
	if code, b, _ := probe(t, addr, "/readyz"); code != http.StatusOK || b != (probeBody{Status: "ready", Endpoints: 2}) {
		t.Errorf("/readyz: %d %+v", code, b)
	}
	resp, err := http.Get("http://" + addr + "/v2/a/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/v2/a/health without a key: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Post("http://"+addr+"/readyz", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
}

// TestReadyzFollowsNATS: with an external NATS server, /readyz answers 503
// with a reason while the server is down (/healthz stays 200) and 200 again
// once it is back.
func TestReadyzFollowsNATS(t *testing.T) {
	t.Setenv(EnvAPIKeys, "")
	store := t.TempDir()
	start := func(port int) *natsserver.Server {
		ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true,
			StoreDir: store, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats server not ready")
		}
		return ns
	}
	ns := start(-1)
	port := ns.Addr().(*net.TCPAddr).Port
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	addr := serveForTest(t, Options{DataDir: t.TempDir(), Endpoints: []string{"ep"}, NATSURL: ns.ClientURL()})
	if code, b, _ := probe(t, addr, "/readyz"); code != http.StatusOK || b.Status != "ready" {
		t.Fatalf("/readyz with NATS up: %d %+v", code, b)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	stopped = true
	waitProbe(t, addr, http.StatusServiceUnavailable, func(b probeBody, retryAfter string) bool {
		return b == probeBody{Status: "unavailable", Reason: reasonEngineDown} && retryAfter == "2"
	})
	if code, _, _ := probe(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with NATS down: %d, want 200", code)
	}

	ns = start(port)
	stopped = false
	waitProbe(t, addr, http.StatusOK, func(b probeBody, _ string) bool { return b.Status == "ready" })
}

// waitProbe polls /readyz until it answers code with a body ok accepts.
func waitProbe(t *testing.T, addr string, code int, ok func(probeBody, string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, b, ra := probe(t, addr, "/readyz")
		if got == code && ok(b, ra) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %+v (Retry-After %q), still not %d after 30 s", got, b, ra, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type reachable struct{ err error }

func (r reachable) Reachable(context.Context) error { return r.err }

// TestReadyzReasons: each way of not being ready has its own reason.
func TestReadyzReasons(t *testing.T) {
	l := liveOf(t, t.TempDir(), "endpoints:\n  - id: a\n")
	for _, c := range []struct {
		name     string
		err      error
		cfg      *live
		stopping bool
		code     int
		want     probeBody
	}{
		{"ready", nil, l, false, 200, probeBody{Status: "ready", Endpoints: 1}},
		{"shutting down", nil, l, true, 503, probeBody{Status: "unavailable", Reason: reasonShuttingDown}},
		{"no config", nil, nil, false, 503, probeBody{Status: "unavailable", Reason: reasonNoConfig}},
		{"engine closed", engine.ErrClosed, l, false, 503, probeBody{Status: "unavailable", Reason: reasonEngineClosed}},
		{"engine down", errors.New("nats: timeout"), l, false, 503, probeBody{Status: "unavailable", Reason: reasonEngineDown}},
	} {
		cur := new(atomic.Pointer[live])
		cur.Store(c.cfg)
		p := &probes{eng: reachable{c.err}, cur: cur, log: slog.New(slog.DiscardHandler)}
		p.stopping.Store(c.stopping)
		rec := httptest.NewRecorder()
		p.handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var b probeBody
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != c.code || b != c.want {
			t.Errorf("%s: %d %s, want %d %+v", c.name, rec.Code, rec.Body, c.code, c.want)
		}
		if c.code == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", c.name)
		}
	}
}

// TestProbesPassThrough: any other request reaches the API with its path
// untouched (no cleaning or redirect in front of it).
func TestProbesPassThrough(t *testing.T) {
	cur := new(atomic.Pointer[live])
	p := &probes{eng: reachable{}, cur: cur, log: slog.New(slog.DiscardHandler)}
	var got string
	h := p.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.Path; w.WriteHeader(http.StatusTeapot) }))
	for _, path := range []string{"/v2/a//run", "/v2/a/../b/health", "/healthz/", "/readyz/x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusTeapot || got != path {
			t.Errorf("GET %s: %d, API saw %q", path, rec.Code, got)
		}
	}
}
