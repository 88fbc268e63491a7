package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// testLog is a logger that writes into the test's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// localServer is a local API server on a free loopback port.
type localServer struct {
	t      *testing.T
	api    *localAPI
	base   string
	client *http.Client
}

// startLocalAPI serves cfg on 127.0.0.1:0 until the test ends. tweak may
// change the server's knobs before it starts.
func startLocalAPI(t *testing.T, cfg Config, concurrency int, tweak func(*localAPI)) *localServer {
	t.Helper()
	if err := validateConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	a := newLocalAPI(&cfg, testLog(t), concurrency)
	a.webhookBackoff = 20 * time.Millisecond
	if tweak != nil {
		tweak(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	s := &localServer{t: t, api: a, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.client.CloseIdleConnections()
	})
	return s
}

// do sends a request and returns the status code and body.
func (s *localServer) do(method, path, body string) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatalf("build request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer any-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("read %s %s: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, data
}

// wireStatus is a decoded status or stream body.
type wireStatus struct {
	ID            string            `json:"id"`
	Status        wire.Status       `json:"status"`
	DelayTime     *int64            `json:"delayTime"`
	ExecutionTime *int64            `json:"executionTime"`
	Output        json.RawMessage   `json:"output"`
	Error         json.RawMessage   `json:"error"`
	Stream        []json.RawMessage `json:"stream"`
}

// call sends a request, wants 200 and decodes the answer.
func (s *localServer) call(method, path, body string) wireStatus {
	s.t.Helper()
	code, data := s.do(method, path, body)
	if code != http.StatusOK {
		s.t.Fatalf("%s %s: status %d, body %s", method, path, code, data)
	}
	var w wireStatus
	if err := json.Unmarshal(data, &w); err != nil {
		s.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
	}
	return w
}

// waitStatus polls /status until cond holds or 10 s pass.
func (s *localServer) waitStatus(path string, cond func(wireStatus) bool) wireStatus {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := s.call("GET", path, "")
		if cond(w) {
			return w
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("GET %s: condition not met before deadline; last %+v", path, w)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statusIs(want wire.Status) func(wireStatus) bool {
	return func(w wireStatus) bool { return w.Status == want }
}

// gate lets a test hold handlers until it releases them.
type gate struct {
	once    sync.Once
	release chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// wait blocks until the gate opens or ctx ends.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestLocalAPIRunAnswersAtOnceAndRunsInBackground(t *testing.T) {
	release := make(chan struct{})
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		if err := ProgressUpdate(ctx, job, map[string]any{"step": 1}); err != nil {
			return nil, err
		}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var in map[string]any
		if err := job.Decode(&in); err != nil {
			return nil, err
		}
		return map[string]any{"echo": in}, nil
	}}
	s := startLocalAPI(t, cfg, 1, nil)

	for _, prefix := range []string{"", "/v2/my-endpoint"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			run := s.call("POST", prefix+"/run", `{"input":{"n":1}}`)
			if run.Status != wire.StatusInQueue || run.ID == "" || strings.HasPrefix(run.ID, "sync-") {
				t.Fatalf("/run answered %+v, want an id and IN_QUEUE", run)
			}
			// The handler is blocked, yet /run has answered: the job runs in
			// the background, and its progress shows in /status.
			w := s.waitStatus(prefix+"/status/"+run.ID, func(w wireStatus) bool {
				return w.Status == wire.StatusInProgress && w.Output != nil
			})
			if string(w.Output) != `{"step":1}` || w.DelayTime == nil {
				t.Errorf("running status %+v, want the progress as output and a delayTime", w)
			}
			release <- struct{}{}
			w = s.waitStatus(prefix+"/status/"+run.ID, statusIs(wire.StatusCompleted))
			if string(w.Output) != `{"echo":{"n":1}}` || w.DelayTime == nil || w.ExecutionTime == nil || w.Error != nil {
				t.Errorf("final status %+v, want the echo, delayTime and executionTime", w)
			}
		})
	}
}

func TestLocalAPIRunsync(t *testing.T) {
	g := newGate()
	t.Cleanup(g.open)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		var in struct {
			Block bool `json:"block"`
		}
		if err := job.Decode(&in); err != nil {
			return nil, err
		}
		if in.Block {
			if err := g.wait(ctx); err != nil {
				return nil, err
			}
		}
		return "done", nil
	}}
	s := startLocalAPI(t, cfg, 2, nil)

	w := s.call("POST", "/v2/ep/runsync", `{"input":{}}`)
	if w.Status != wire.StatusCompleted || string(w.Output) != `"done"` || !strings.HasPrefix(w.ID, "sync-") ||
		w.ExecutionTime == nil || w.DelayTime == nil {
		t.Fatalf("/runsync answered %+v, want COMPLETED \"done\" with a sync- id and times", w)
	}
	// The result stays readable through /status.
	if st := s.call("GET", "/v2/ep/status/"+w.ID, ""); st.Status != wire.StatusCompleted || string(st.Output) != `"done"` {
		t.Errorf("/status after /runsync: %+v", st)
	}

	// When ?wait runs out first, /runsync answers the current status and the
	// job keeps running.
	w = s.call("POST", "/runsync?wait=1000", `{"input":{"block":true}}`)
	if w.Status != wire.StatusInProgress && w.Status != wire.StatusInQueue {
		t.Fatalf("/runsync?wait=1000 on a blocked job answered %+v, want IN_QUEUE or IN_PROGRESS", w)
	}
	g.open()
	if st := s.waitStatus("/status/"+w.ID, statusIs(wire.StatusCompleted)); string(st.Output) != `"done"` {
		t.Errorf("blocked /runsync job finished as %+v", st)
	}
}

func TestLocalAPIStreamReturnsEachChunkOnceInOrder(t *testing.T) {
	step := make(chan struct{})
	cfg := Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for i := 1; i <= 4; i++ {
				select {
				case <-step:
				case <-ctx.Done():
					return
				}
				if !yield(map[string]int{"i": i}, nil) {
					return
				}
			}
		}
	}, ReturnAggregateStream: true}
	s := startLocalAPI(t, cfg, 1, nil)
	run := s.call("POST", "/run", `{"input":"go"}`)

	var got []string
	collect := func(w wireStatus) {
		for _, c := range w.Stream {
			got = append(got, string(c))
		}
	}
	// Release two chunks, read them, release two more, read to the end.
	for range 2 {
		step <- struct{}{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		collect(s.call("GET", "/v2/ep/stream/"+run.ID+"?wait=1000", ""))
	}
	for range 2 {
		step <- struct{}{}
	}
	for time.Now().Before(deadline) {
		w := s.call("GET", "/stream/"+run.ID, "")
		collect(w)
		if w.Status.Terminal() && len(w.Stream) == 0 {
			if w.Status != wire.StatusCompleted {
				t.Fatalf("stream ended with %+v", w)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{`{"output":{"i":1}}`, `{"output":{"i":2}}`, `{"output":{"i":3}}`, `{"output":{"i":4}}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stream chunks %v, want %v (each once, in order)", got, want)
	}
	// Drained: a further read has no chunks, and "stream" is still present.
	code, data := s.do("GET", "/stream/"+run.ID, "")
	if code != http.StatusOK || !bytes.Contains(data, []byte(`"stream":[]`)) {
		t.Errorf("read after drain: %d %s, want an empty stream list", code, data)
	}
	if st := s.call("GET", "/status/"+run.ID, ""); string(st.Output) != `[{"i":1},{"i":2},{"i":3},{"i":4}]` {
		t.Errorf("aggregate output %s", st.Output)
	}
}

func TestLocalAPIStreamErrorFailsJobWithoutChunk(t *testing.T) {
	cfg := Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			if yield("first", nil) {
				yield(map[string]any{"error": "bad chunk"}, nil)
			}
		}
	}}
	s := startLocalAPI(t, cfg, 1, nil)
	run := s.call("POST", "/run", `{"input":1}`)
	w := s.waitStatus("/status/"+run.ID, statusIs(wire.StatusFailed))
	if string(w.Error) != `"bad chunk"` || w.Output != nil {
		t.Errorf("status %+v, want FAILED with error \"bad chunk\" and no output", w)
	}
	st := s.call("GET", "/stream/"+run.ID, "")
	if len(st.Stream) != 1 || string(st.Stream[0]) != `{"output":"first"}` || st.Status != wire.StatusFailed || string(st.Error) != `"bad chunk"` {
		t.Errorf("stream %+v, want only the first chunk, FAILED and the error", st)
	}
}

func TestLocalAPICancel(t *testing.T) {
	cancelled := make(chan error, 1)
	started := make(chan string, 4)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		started <- job.ID
		<-ctx.Done()
		cancelled <- ctx.Err()
		return "ignored", nil
	}}
	hook := newHookRecorder(t, nil)
	s := startLocalAPI(t, cfg, 1, nil)

	running := s.call("POST", "/run", fmt.Sprintf(`{"input":1,"webhook":%q}`, hook.url))
	queued := s.call("POST", "/run", `{"input":2}`)
	if id := <-started; id != running.ID {
		t.Fatalf("first job to start is %s, want %s", id, running.ID)
	}
	if st := s.call("GET", "/status/"+queued.ID, ""); st.Status != wire.StatusInQueue {
		t.Fatalf("second job %+v, want IN_QUEUE behind the first", st)
	}
	// Cancelling a queued job drops it before it starts.
	if w := s.call("POST", "/v2/ep/cancel/"+queued.ID, ""); w.Status != wire.StatusCancelled || w.ID != queued.ID {
		t.Errorf("cancel queued: %+v", w)
	}
	// Cancelling a running job cancels its ctx.
	if w := s.call("POST", "/cancel/"+running.ID, ""); w.Status != wire.StatusCancelled {
		t.Errorf("cancel running: %+v", w)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ctx error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running job's ctx was not cancelled")
	}
	// Its late result is dropped; the webhook reports CANCELLED.
	if st := s.call("GET", "/status/"+running.ID, ""); st.Status != wire.StatusCancelled || st.Output != nil {
		t.Errorf("status after cancel %+v, want CANCELLED without output", st)
	}
	if got := hook.wait(1)[0]; got.Status != wire.StatusCancelled || got.ID != running.ID {
		t.Errorf("webhook %+v, want CANCELLED for %s", got, running.ID)
	}
	// The queued job never ran: a third job is the next to start.
	third := s.call("POST", "/run", `{"input":3}`)
	if id := <-started; id != third.ID {
		t.Errorf("job started after the cancels is %s, want %s (the cancelled queued job must not run)", id, third.ID)
	}
	s.call("POST", "/cancel/"+third.ID, "")
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled running job's ctx error %v, want context.Canceled", err)
	}
	// Cancelling a finished job changes nothing.
	if w := s.call("POST", "/cancel/"+running.ID, ""); w.Status != wire.StatusCancelled {
		t.Errorf("second cancel %+v", w)
	}
}

func TestLocalAPIConcurrencyAndHealth(t *testing.T) {
	g := newGate()
	t.Cleanup(g.open)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		err := g.wait(ctx)
		mu.Lock()
		inFlight--
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		if string(job.Input) == `"fail"` {
			return nil, fmt.Errorf("asked to fail")
		}
		return "ok", nil
	}}
	s := startLocalAPI(t, cfg, 2, nil)
	ids := []string{
		s.call("POST", "/run", `{"input":"ok"}`).ID,
		s.call("POST", "/run", `{"input":"fail"}`).ID,
		s.call("POST", "/run", `{"input":"ok"}`).ID,
	}
	// Wait until two handlers are inside the gate at once.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := inFlight
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers running at once, want 2 (--rp_api_concurrency)", n)
		}
	}

	var h wire.Health
	code, data := s.do("GET", "/v2/ep/health", "")
	if err := json.Unmarshal(data, &h); code != http.StatusOK || err != nil {
		t.Fatalf("/health: %d %s %v", code, data, err)
	}
	if h.Jobs.InProgress != 2 || h.Jobs.InQueue != 1 || h.Workers.Running != 2 || h.Workers.Idle != 0 {
		t.Errorf("/health while busy %+v, want 2 in progress, 1 queued, 2 running workers", h)
	}
	g.open()
	for _, id := range ids {
		s.waitStatus("/status/"+id, func(w wireStatus) bool { return w.Status.Terminal() })
	}
	mu.Lock()
	if peak != 2 {
		t.Errorf("peak parallel jobs %d, want 2 (--rp_api_concurrency)", peak)
	}
	mu.Unlock()
	_, data = s.do("GET", "/health", "")
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if h.Jobs.Completed != 2 || h.Jobs.Failed != 1 || h.Jobs.InProgress != 0 || h.Workers.Idle != 2 {
		t.Errorf("/health after %+v, want 2 completed, 1 failed, 2 idle", h)
	}
}

func TestLocalAPIPurgeQueue(t *testing.T) {
	g := newGate()
	t.Cleanup(g.open)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		return nil, g.wait(ctx)
	}}
	s := startLocalAPI(t, cfg, 1, nil)
	first := s.call("POST", "/run", `{"input":0}`).ID
	s.waitStatus("/status/"+first, statusIs(wire.StatusInProgress))
	second := s.call("POST", "/run", `{"input":1}`).ID
	s.call("POST", "/run", `{"input":2}`)
	code, data := s.do("POST", "/v2/ep/purge-queue", "")
	if code != http.StatusOK || string(data) != "{\"removed\":2,\"status\":\"completed\"}\n" {
		t.Errorf("/purge-queue: %d %s", code, data)
	}
	if code, _ := s.do("GET", "/status/"+second, ""); code != http.StatusNotFound {
		t.Errorf("purged job: status %d, want 404", code)
	}
	g.open()
	if w := s.waitStatus("/status/"+first, statusIs(wire.StatusCompleted)); w.Output != nil {
		t.Errorf("running job after purge %+v, want COMPLETED without output (a null output is left out, as by the server)", w)
	}
}

func TestLocalAPIBadInput(t *testing.T) {
	s := startLocalAPI(t, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return 1, nil }}, 1, nil)
	big := `{"input":"` + strings.Repeat("x", maxRunBody) + `"}`
	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"not JSON", "POST", "/run", `{"input":`, 400},
		{"not an object", "POST", "/run", `[1,2]`, 400},
		{"no input", "POST", "/run", `{"webhook":"http://127.0.0.1:1/x"}`, 400},
		{"null input", "POST", "/runsync", `{"input":null}`, 400},
		{"empty body", "POST", "/v2/ep/run", ``, 400},
		{"webhook not a URL", "POST", "/run", `{"input":1,"webhook":"ftp://x"}`, 400},
		{"webhook not a string", "POST", "/run", `{"input":1,"webhook":5}`, 400},
		{"timeout too small", "POST", "/run", `{"input":1,"policy":{"executionTimeout":100}}`, 400},
		{"timeout wrong type", "POST", "/run", `{"input":1,"policy":{"executionTimeout":"1s"}}`, 400},
		{"bad wait", "POST", "/runsync?wait=soon", `{"input":1}`, 400},
		{"body too large", "POST", "/run", big, 413},
		{"unknown status", "GET", "/status/nope", ``, 404},
		{"unknown stream", "GET", "/v2/ep/stream/nope", ``, 404},
		{"unknown cancel", "POST", "/cancel/nope", ``, 404},
		{"unknown route", "GET", "/v2/ep/nothing/here", ``, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, data := s.do(c.method, c.path, c.body)
			var e wire.ErrorBody
			if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
				t.Errorf("body %s is not a JSON error: %v", data, err)
			}
			if code != c.code {
				t.Errorf("status %d, want %d (body %s)", code, c.code, data)
			}
		})
	}
	// Nothing bad input did harmed the server: a good job still runs.
	if w := s.call("POST", "/runsync", `{"input":1}`); w.Status != wire.StatusCompleted {
		t.Errorf("good job after bad input: %+v", w)
	}
}

func TestLocalAPIForgetsJobsAfterRetention(t *testing.T) {
	s := startLocalAPI(t, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return 1, nil }}, 1, func(a *localAPI) {
		a.retention, a.syncRetention, a.sweepEvery = 0, 0, 0
	})
	old := s.call("POST", "/runsync", `{"input":1}`)
	// The next submission sweeps jobs whose retention has passed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.call("POST", "/runsync", `{"input":1}`)
		if code, _ := s.do("GET", "/status/"+old.ID, ""); code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still stored after its retention", old.ID)
		}
	}
	s.api.mu.Lock()
	n := len(s.api.jobs)
	s.api.mu.Unlock()
	if n > 1 {
		t.Errorf("%d jobs stored, want at most the last one", n)
	}
}
