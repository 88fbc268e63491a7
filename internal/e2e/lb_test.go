package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The tests of issue #16, load-balancing endpoints: `sluice serve` starts
// real HTTP workers (a net/http program and Runpod's FastAPI example shape
// on uvicorn) with PORT and PORT_HEALTH, and proxies /lb/{endpoint}/{path}
// to them.

const (
	lbKey      = "Bearer lb-client-key"
	lbEndpoint = "Bearer lb-web-only-key"
)

// lbServer starts `sluice serve` with the given endpoints (YAML list items)
// and the client key lb-client-key.
func lbServer(t *testing.T, endpoints string) *server {
	s, _ := lbServerConfig(t, endpoints)
	return s
}

// lbServerConfig is lbServer that also returns a function rewriting the
// config file with other endpoints (for a reload).
func lbServerConfig(t *testing.T, endpoints string) (*server, func(endpoints string)) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	write := func(endpoints string) {
		yaml := "apiKeys: [lb-client-key]\npingIntervalMs: 1000\nendpoints:\n" + endpoints
		if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(endpoints)
	return startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg, "--worker-lost-after", "3s"), write
}

// lbWorkers returns GET /v2/{ep}/workers's live processes with their ports.
func (s *server) lbWorkers(t *testing.T, ep string) []lbProc {
	t.Helper()
	r := s.do(t, "GET", "/v2/"+ep+"/workers", lbKey, nil)
	if r.code != 200 {
		t.Fatalf("workers: %d %s", r.code, r.body)
	}
	var body struct{ Workers []lbProc }
	testutil.NoErr(t, json.Unmarshal(r.body, &body))
	var live []lbProc
	for _, p := range body.Workers {
		if p.ExitedAt.IsZero() {
			live = append(live, p)
		}
	}
	return live
}

type lbProc struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	PID        int       `json:"pid"`
	Port       int       `json:"port"`
	HealthPort int       `json:"healthPort"`
	Jobs       []string  `json:"jobs"`
	ExitedAt   time.Time `json:"exitedAt"`
}

// echo is the lbworker's /echo answer.
type echo struct {
	Worker, Method, Path, Query, Body, Authorization, ForwardedFor string
}

func (s *server) lbEcho(t *testing.T, path string) echo {
	t.Helper()
	r := s.do(t, "POST", path, lbKey, []byte(`{"n": 1}`))
	if r.code != 200 {
		t.Fatalf("POST %s: %d %s", path, r.code, r.body)
	}
	var e echo
	testutil.NoErr(t, json.Unmarshal(r.body, &e))
	return e
}

func TestLBGoWorker(t *testing.T) {
	t.Parallel()
	s := lbServer(t, fmt.Sprintf(`  - id: web
    type: LB
    command: [%q]
    healthPort: separate
    workersMax: 2
    idleTimeout: 1
    requestTimeoutSeconds: 2
    host: web.lb.test
    apiKeys: [lb-web-only-key]
    env:
      LB_READY_AFTER_MS: "300"
  - id: never
    type: LB
    command: [%q]
    coldStartTimeoutSeconds: 1
    env:
      LB_NEVER_READY: "1"
      RUNPOD_INIT_TIMEOUT: "3"
  - id: q
`, bins.lbworker, bins.lbworker))

	t.Run("cold start from zero and proxying", func(t *testing.T) {
		if ws := s.lbWorkers(t, "web"); len(ws) != 0 {
			t.Fatalf("workers before the first request: %+v", ws)
		}
		e := s.lbEcho(t, "/lb/web/echo/a%2Fb/c?x=1&y=two")
		if e.Method != "POST" || e.Path != "/echo/a/b/c" || e.Query != "x=1&y=two" || e.Body != `{"n": 1}` {
			t.Errorf("the worker saw %+v", e)
		}
		if e.Authorization != "" {
			t.Errorf("the client's key reached the worker: %q", e.Authorization)
		}
		if e.ForwardedFor != "127.0.0.1" || !strings.HasPrefix(e.Worker, "web-") {
			t.Errorf("forwarded for %q, worker %q", e.ForwardedFor, e.Worker)
		}
		ws := s.lbWorkers(t, "web")
		if len(ws) != 1 || ws[0].ID != e.Worker || ws[0].Port == 0 || ws[0].HealthPort == 0 || ws[0].Port == ws[0].HealthPort {
			t.Fatalf("workers: %+v", ws)
		}
		// The worker answers on its PORT directly too: the proxy adds only itself.
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/echo/direct", ws[0].Port))
		testutil.NoErr(t, err)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("direct call: %d", res.StatusCode)
		}
	})

	t.Run("auth", func(t *testing.T) {
		for _, c := range []struct {
			auth string
			want int
		}{{"", 401}, {"Bearer nope", 401}, {lbEndpoint, 200}, {lbKey, 200}} {
			r := s.do(t, "GET", "/lb/web/echo/x", c.auth, nil)
			if r.code != c.want {
				t.Errorf("key %q: %d %s, want %d", c.auth, r.code, r.body, c.want)
			}
			if c.want == 401 && !strings.Contains(string(r.body), `"error"`) {
				t.Errorf("401 body is not a JSON error: %s", r.body)
			}
		}
		if r := s.do(t, "GET", "/lb/never/ping", lbEndpoint, nil); r.code != 401 {
			t.Errorf("a key of endpoint web opened endpoint never: %d", r.code)
		}
	})

	t.Run("host name", func(t *testing.T) {
		// Like ENDPOINT_ID.api.runpod.ai/PATH: every path of the host goes to the endpoint.
		for _, c := range []struct {
			auth string
			want int
		}{{"", 401}, {lbKey, 200}} {
			req, err := http.NewRequest("POST", s.url+"/echo/by-host?h=1", strings.NewReader("hi"))
			testutil.NoErr(t, err)
			req.Host = "web.lb.test:" + strings.Split(s.addr, ":")[1]
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			res, err := httpClient.Do(req)
			testutil.NoErr(t, err)
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			testutil.NoErr(t, err)
			if res.StatusCode != c.want {
				t.Fatalf("by host name, key %q: %d %s", c.auth, res.StatusCode, body)
			}
			if c.want != 200 {
				continue
			}
			var e echo
			testutil.NoErr(t, json.Unmarshal(body, &e))
			if e.Path != "/echo/by-host" || e.Query != "h=1" || e.Body != "hi" || res.Header.Get("X-Runpod-Worker-Id") != e.Worker {
				t.Errorf("by host name the worker saw %+v (worker header %q)", e, res.Header.Get("X-Runpod-Worker-Id"))
			}
		}
	})

	t.Run("queue routes refused", func(t *testing.T) {
		r := s.do(t, "POST", "/v2/web/run", lbKey, []byte(`{"input": {}}`))
		if r.code != 400 || !strings.Contains(string(r.body), "/lb/web/") {
			t.Errorf("/run on an LB endpoint: %d %s", r.code, r.body)
		}
		r = s.do(t, "GET", "/lb/q/x", lbKey, nil)
		if r.code != 404 || !strings.Contains(string(r.body), "not a load-balancing endpoint") {
			t.Errorf("/lb on a queue endpoint: %d %s", r.code, r.body)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		for _, route := range []string{"/stream", "/sse"} {
			ctx := testutil.Context(t, 30*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/lb/web"+route, nil)
			req.Header.Set("Authorization", lbKey)
			res, err := http.DefaultClient.Do(req)
			testutil.NoErr(t, err)
			rd := bufio.NewReader(res.Body)
			// The first chunk arrives while the worker still holds the response open.
			first, err := rd.ReadString('\n')
			testutil.NoErr(t, err)
			if !strings.Contains(first, "first") {
				t.Fatalf("%s: first line %q", route, first)
			}
			if r := s.do(t, "POST", "/lb/web/release", lbKey, nil); r.code != 200 {
				t.Fatalf("release: %d %s", r.code, r.body)
			}
			rest, err := io.ReadAll(rd)
			res.Body.Close()
			testutil.NoErr(t, err)
			if !strings.Contains(string(rest), "second") {
				t.Errorf("%s: rest %q", route, rest)
			}
			if route == "/sse" && res.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("SSE content type %q", res.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		testutil.NoErr(t, err)
		defer conn.Close()
		testutil.NoErr(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
		fmt.Fprintf(conn, "GET /lb/web/upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", lbKey)
		rd := bufio.NewReader(conn)
		res, err := http.ReadResponse(rd, nil)
		testutil.NoErr(t, err)
		defer res.Body.Close()
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %d", res.StatusCode)
		}
		for _, msg := range []string{"one", "two"} {
			fmt.Fprintf(conn, "%s\n", msg)
			line, err := rd.ReadString('\n')
			testutil.NoErr(t, err)
			if line != "echo: "+msg+"\n" {
				t.Errorf("echo of %q: %q", msg, line)
			}
		}
	})

	t.Run("request timeout", func(t *testing.T) {
		r := s.do(t, "GET", "/lb/web/hang", lbKey, nil)
		if r.code != 504 || !strings.Contains(string(r.body), "did not answer within 2 s (requestTimeoutSeconds)") {
			t.Errorf("hang: %d %s", r.code, r.body)
		}
	})

	t.Run("no worker ready in time", func(t *testing.T) {
		r := s.do(t, "GET", "/lb/never/x", lbKey, nil)
		if r.code != 503 || r.hdr.Get("Retry-After") == "" || !strings.Contains(string(r.body), "became ready within 1 s (coldStartTimeoutSeconds") {
			t.Errorf("never ready: %d %s (Retry-After %q)", r.code, r.body, r.hdr.Get("Retry-After"))
		}
		ws := s.lbWorkers(t, "never")
		if len(ws) != 1 || ws[0].Status != "INITIALIZING" || ws[0].Port != ws[0].HealthPort {
			t.Errorf("the worker answering 204 is not INITIALIZING on one port: %+v", ws)
		}
		// Still 204 at its init timeout (RUNPOD_INIT_TIMEOUT 3 s): killed as a crash, saying why.
		testutil.WaitFor(t, 30*time.Second, "the never-ready worker killed at its init timeout", func() bool {
			r := s.do(t, "GET", "/v2/never/workers", lbKey, nil)
			return strings.Contains(string(r.body), "GET /ping on its PORT_HEALTH did not answer 200 within 3s")
		})
	})

	t.Run("health and metrics", func(t *testing.T) {
		// A stream held open: one request in flight on a running worker.
		ctx := testutil.Context(t, 30*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/lb/web/stream", nil)
		req.Header.Set("Authorization", lbKey)
		res, err := http.DefaultClient.Do(req)
		testutil.NoErr(t, err)
		defer res.Body.Close()
		r := s.do(t, "GET", "/v2/web/health", lbKey, nil)
		var hl struct {
			Jobs    struct{ InProgress int }
			Workers struct{ Running int }
		}
		testutil.NoErr(t, json.Unmarshal(r.body, &hl))
		if r.code != 200 || hl.Jobs.InProgress != 1 {
			t.Errorf("health with a request in flight: %d %s", r.code, r.body)
		}
		testutil.WaitFor(t, 10*time.Second, "the worker shown running", func() bool {
			r := s.do(t, "GET", "/v2/web/health", lbKey, nil)
			testutil.NoErr(t, json.Unmarshal(r.body, &hl))
			return hl.Workers.Running == 1
		})
		if r := s.do(t, "POST", "/lb/web/release", lbKey, nil); r.code != 200 {
			t.Fatalf("release: %d %s", r.code, r.body)
		}
		m := s.do(t, "GET", "/metrics", lbKey, nil)
		for _, want := range []string{`sluice_lb_requests_total{code="200",endpoint="web"}`, `sluice_lb_requests_total{code="504",endpoint="web"}`,
			`sluice_lb_requests_total{code="503",endpoint="never"}`, `sluice_lb_requests_in_flight{endpoint="web"}`, `sluice_lb_request_duration_seconds_count{endpoint="web"}`} {
			if !strings.Contains(string(m.body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		r := s.do(t, "GET", "/v2/web/logs", lbKey, nil)
		if r.code != 200 || !strings.Contains(string(r.body), "lbworker web-") || !strings.Contains(string(r.body), "PORT_HEALTH") {
			t.Errorf("logs: %d %s", r.code, tail(string(r.body), 500))
		}
	})

	t.Run("scale to zero", func(t *testing.T) {
		testutil.WaitFor(t, 30*time.Second, "web back to zero workers", func() bool { return len(s.lbWorkers(t, "web")) == 0 })
	})
}

func TestLBWorkerKilledMidRequest(t *testing.T) {
	t.Parallel()
	s := lbServer(t, fmt.Sprintf(`  - id: pair
    type: LB
    command: [%q]
    workersMin: 2
    workersMax: 2
`, bins.lbworker))
	testutil.WaitFor(t, 30*time.Second, "two ready workers", func() bool {
		ws := s.lbWorkers(t, "pair")
		return len(ws) == 2 && ws[0].Status == "IDLE" && ws[1].Status == "IDLE"
	})
	type result struct {
		r   resp
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.try("GET", "/lb/pair/hang", lbKey, nil)
		done <- result{r, err}
	}()
	var victim lbProc
	testutil.WaitFor(t, 30*time.Second, "the hanging request on a worker", func() bool {
		for _, w := range s.lbWorkers(t, "pair") {
			if len(w.Jobs) == 1 {
				victim = w
				return true
			}
		}
		return false
	})
	testutil.NoErr(t, syscall.Kill(victim.PID, syscall.SIGKILL))
	var got result
	select {
	case got = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the request to the killed worker got no answer")
	}
	testutil.NoErr(t, got.err)
	if got.r.code != 502 || !strings.Contains(string(got.r.body), "worker "+victim.ID+" of endpoint pair failed mid-request") {
		t.Fatalf("request on the killed worker: %d %s", got.r.code, got.r.body)
	}
	if e := s.lbEcho(t, "/lb/pair/echo/next"); e.Worker == victim.ID {
		t.Errorf("the next request went to the killed worker %s", victim.ID)
	}
	testutil.WaitFor(t, 30*time.Second, "a replacement worker", func() bool {
		ws := s.lbWorkers(t, "pair")
		return len(ws) == 2 && ws[0].ID != victim.ID && ws[1].ID != victim.ID
	})
}

// fastAPIPython returns the venv's python with FastAPI and uvicorn
// (scripts/deps.sh), failing under CI and skipping elsewhere when missing.
func fastAPIPython(t *testing.T) string {
	python := testutil.RunpodPython(t)
	if err := exec.Command(python, "-c", "import fastapi, uvicorn").Run(); err != nil {
		if testutil.InCI() {
			t.Fatalf("fastapi/uvicorn are not installed next to runpod-python: %v (scripts/deps.sh installs them)", err)
		}
		t.Skipf("fastapi/uvicorn are not installed (%v); scripts/deps.sh installs them", err)
	}
	return python
}

func TestLBFastAPIWorker(t *testing.T) {
	t.Parallel()
	python := fastAPIPython(t)
	app, err := filepath.Abs("testdata/lbfastapi/app.py")
	testutil.NoErr(t, err)
	s := lbServer(t, fmt.Sprintf(`  - id: fa
    type: LB
    command: [%q, %q]
    workersMax: 1
`, python, app))

	// Cold start from zero: uvicorn starts, /ping answers 200, then the request goes through.
	r := s.do(t, "POST", "/lb/fa/generate", lbKey, []byte(`{"prompt": "Hello, world!"}`), "Content-Type", "application/json")
	if r.code != 200 {
		t.Fatalf("generate: %d %s", r.code, r.body)
	}
	var gen struct {
		GeneratedText string `json:"generated_text"`
		Worker        string
	}
	testutil.NoErr(t, json.Unmarshal(r.body, &gen))
	if gen.GeneratedText != "Response to: Hello, world! (request #1)" || !strings.HasPrefix(gen.Worker, "fa-") {
		t.Errorf("generate: %s", r.body)
	}
	// FastAPI's own 422 passes through untouched.
	if r := s.do(t, "POST", "/lb/fa/generate", lbKey, []byte(`{}`), "Content-Type", "application/json"); r.code != 422 {
		t.Errorf("bad body: %d %s", r.code, r.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/lb/fa/stream", nil)
	req.Header.Set("Authorization", lbKey)
	res, err := http.DefaultClient.Do(req)
	testutil.NoErr(t, err)
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	first, err := rd.ReadString('\n')
	testutil.NoErr(t, err)
	if first != "first\n" {
		t.Fatalf("first chunk %q", first)
	}
	if r := s.do(t, "POST", "/lb/fa/release", lbKey, nil); r.code != 200 {
		t.Fatalf("release: %d %s", r.code, r.body)
	}
	rest, err := io.ReadAll(rd)
	testutil.NoErr(t, err)
	if string(rest) != "second\n" {
		t.Errorf("rest of the stream %q", rest)
	}
	if r := s.do(t, "GET", "/lb/fa/stats", lbKey, nil); r.code != 200 || !strings.Contains(string(r.body), `"total_requests":1`) {
		t.Errorf("stats: %d %s", r.code, r.body)
	}
}

func TestLBScalesOnRequestCount(t *testing.T) {
	t.Parallel()
	s := lbServer(t, fmt.Sprintf(`  - id: rc
    type: LB
    command: [%q]
    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 3
    idleTimeout: 1
`, bins.lbworker))
	// Three streams held open: one request per worker means three workers.
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() {
			r, err := s.try("GET", "/lb/rc/stream", lbKey, nil)
			if err == nil && (r.code != 200 || string(r.body) != "first\nsecond\n") {
				err = fmt.Errorf("stream: %d %q", r.code, r.body)
			}
			errs <- err
		}()
	}
	start := time.Now()
	testutil.WaitFor(t, 60*time.Second, "three workers for three requests in flight", func() bool {
		ws := s.lbWorkers(t, "rc")
		ready := 0
		for _, w := range ws {
			if w.Status != "INITIALIZING" {
				ready++
			}
		}
		return ready == n
	})
	t.Logf("three workers ready after %s", time.Since(start))
	r := s.do(t, "GET", "/v2/rc/health", lbKey, nil)
	var hl struct {
		Jobs struct{ InProgress, InQueue int }
	}
	testutil.NoErr(t, json.Unmarshal(r.body, &hl))
	if hl.Jobs.InProgress+hl.Jobs.InQueue != n {
		t.Errorf("health while %d requests are open: %s", n, r.body)
	}
	// Release each worker's stream on the worker itself (through the
	// proxy, /release would go to the least busy worker again and again).
	for _, w := range s.lbWorkers(t, "rc") {
		res, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/release", w.Port), "", nil)
		testutil.NoErr(t, err)
		res.Body.Close()
	}
	for range n {
		testutil.NoErr(t, <-errs)
	}
	testutil.WaitFor(t, 30*time.Second, "back to zero workers", func() bool { return len(s.lbWorkers(t, "rc")) == 0 })
}

func TestLBUnhealthyWorkerReplaced(t *testing.T) {
	t.Parallel()
	s := lbServer(t, fmt.Sprintf(`  - id: sick
    type: LB
    command: [%q]
    workersMin: 1
    workersMax: 1
`, bins.lbworker))
	first := s.lbEcho(t, "/lb/sick/echo/one").Worker
	if r := s.do(t, "POST", "/lb/sick/sick", lbKey, nil); r.code != 200 {
		t.Fatalf("sick: %d %s", r.code, r.body)
	}
	// Its /ping now answers 500: out of rotation at the next health check,
	// killed and replaced once no 200 came for --worker-lost-after (3 s).
	testutil.WaitFor(t, 60*time.Second, "a replacement for the unhealthy worker", func() bool {
		ws := s.lbWorkers(t, "sick")
		return len(ws) == 1 && ws[0].ID != first && ws[0].Status == "IDLE"
	})
	if e := s.lbEcho(t, "/lb/sick/echo/two"); e.Worker == first {
		t.Errorf("a request went to the unhealthy worker %s", first)
	}
	r := s.do(t, "GET", "/v2/sick/logs", lbKey, nil)
	if !strings.Contains(string(r.body), "worker "+first+": SIGKILL (no ping for") {
		t.Errorf("the log does not say why %s was replaced: %s", first, tail(string(r.body), 800))
	}
}

func TestLBReload(t *testing.T) {
	t.Parallel()
	s, write := lbServerConfig(t, "  - id: q\n")
	if r := s.do(t, "GET", "/lb/web/echo/x", lbKey, nil); r.code != 404 {
		t.Fatalf("before the reload: %d %s", r.code, r.body)
	}
	write(fmt.Sprintf("  - id: q\n  - id: web\n    type: LB\n    command: [%q]\n", bins.lbworker))
	if r := s.do(t, "POST", "/v2/admin/reload", lbKey, nil); r.code != 200 || !strings.Contains(string(r.body), "endpoint web added") {
		t.Fatalf("reload adding web: %d %s", r.code, r.body)
	}
	if e := s.lbEcho(t, "/lb/web/echo/after-reload"); e.Path != "/echo/after-reload" {
		t.Errorf("after the reload the worker saw %+v", e)
	}
	write("  - id: q\n")
	if r := s.do(t, "POST", "/v2/admin/reload", lbKey, nil); r.code != 200 {
		t.Fatalf("reload removing web: %d %s", r.code, r.body)
	}
	if r := s.do(t, "GET", "/lb/web/echo/x", lbKey, nil); r.code != 404 {
		t.Errorf("after removing web: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 60*time.Second, "the removed endpoint's worker gone", func() bool {
		r := s.do(t, "GET", "/v2/web/workers", lbKey, nil)
		return r.code == 404 || !strings.Contains(string(r.body), `"pid"`)
	})
}
