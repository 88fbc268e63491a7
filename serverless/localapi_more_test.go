package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

func TestLocalAPIWrongMethodIsJSON405(t *testing.T) {
	s := startLocalAPI(t, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return 1, nil }}, 1, nil)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/run", "POST"},
		{"DELETE", "/v2/ep/status/x", "GET, POST"},
		{"POST", "/health", "GET"},
	} {
		code, data := s.do(c.method, c.path, "")
		if code != http.StatusMethodNotAllowed || !strings.Contains(string(data), `"error":`) {
			t.Errorf("%s %s: %d %s, want a 405 JSON error", c.method, c.path, code, data)
		}
	}
}

func TestLocalAPIQueueFullIs429(t *testing.T) {
	g := newGate()
	t.Cleanup(g.open)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) { return nil, g.wait(ctx) }}
	s := startLocalAPI(t, cfg, 1, func(a *localAPI) { a.queue = make(chan *localJob, 1) })
	first := s.call("POST", "/run", `{"input":1}`)
	s.waitStatus("/status/"+first.ID, statusIs(wire.StatusInProgress))
	second := s.call("POST", "/run", `{"input":2}`)
	code, data := s.do("POST", "/run", `{"input":3}`)
	if code != http.StatusTooManyRequests || !strings.Contains(string(data), `"error":`) {
		t.Errorf("third job with a full queue: %d %s, want a 429 JSON error", code, data)
	}
	// The accepted jobs are unharmed.
	g.open()
	for _, id := range []string{first.ID, second.ID} {
		s.waitStatus("/status/"+id, statusIs(wire.StatusCompleted))
	}
}

func TestLocalAPIExecutionTimeout(t *testing.T) {
	ctxErr := make(chan error, 1)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		<-ctx.Done()
		ctxErr <- ctx.Err()
		return "too late", nil
	}}
	hook := newHookRecorder(t, nil)
	s := startLocalAPI(t, cfg, 1, nil)
	// policy.executionTimeout is at least 5 s over HTTP; submit directly
	// with a short one to exercise the deadline.
	job, err := NewJob("timeout-job", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.api.submit(&localJob{id: job.ID, job: job, timeout: 50 * time.Millisecond, webhook: hook.url, submitted: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w := s.waitStatus("/status/timeout-job", statusIs(wire.StatusTimedOut))
	if w.Output != nil || !strings.Contains(string(w.Error), "execution timeout") {
		t.Errorf("timed out job %+v, want no output and a timeout error", w)
	}
	if err := <-ctxErr; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("handler ctx error %v, want context.DeadlineExceeded", err)
	}
	if got := hook.wait(1)[0]; got.Status != wire.StatusTimedOut {
		t.Errorf("webhook %+v, want TIMED_OUT", got)
	}
	// A valid policy is accepted over HTTP.
	code, data := s.do("POST", "/run", `{"input":1,"policy":{"executionTimeout":5000,"ttl":60000,"lowPriority":true}}`)
	if code != http.StatusOK {
		t.Errorf("valid policy: %d %s", code, data)
	}
	s.call("POST", "/cancel/"+strings.Split(strings.Split(string(data), `"id":"`)[1], `"`)[0], "")
}

func TestLocalAPIStatusSync(t *testing.T) {
	g := newGate()
	t.Cleanup(g.open)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) { return "ok", g.wait(ctx) }}
	s := startLocalAPI(t, cfg, 1, nil)
	run := s.call("POST", "/run", `{"input":1}`)
	if w := s.call("GET", "/status-sync/"+run.ID+"?wait=1000", ""); w.Status != wire.StatusInProgress && w.Status != wire.StatusInQueue {
		t.Errorf("status-sync before the end: %+v", w)
	}
	done := make(chan wireStatus, 1)
	go func() {
		// The request holds until the job ends; released below.
		resp, err := s.client.Get(s.base + "/v2/ep/status-sync/" + run.ID + "?wait=30000")
		if err != nil {
			done <- wireStatus{Status: wire.Status(err.Error())}
			return
		}
		defer resp.Body.Close()
		var w wireStatus
		_ = jsonDecode(resp, &w)
		done <- w
	}()
	g.open()
	if w := <-done; w.Status != wire.StatusCompleted || string(w.Output) != `"ok"` {
		t.Errorf("status-sync: %+v", w)
	}
}

func TestLocalAPIShutdownCancelsRunningJobs(t *testing.T) {
	started := make(chan struct{})
	ctxErr := make(chan error, 1)
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		close(started)
		<-ctx.Done()
		ctxErr <- ctx.Err()
		return nil, ctx.Err()
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newLocalAPI(&cfg, testLog(t), 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(fmt.Sprintf("http://%s/run", ln.Addr()), "application/json", strings.NewReader(`{"input":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its ctx ended")
	}
	if err := <-ctxErr; !errors.Is(err, context.Canceled) {
		t.Errorf("running job's ctx: %v, want context.Canceled", err)
	}
	if resp, err := client.Get(fmt.Sprintf("http://%s/health", ln.Addr())); err == nil {
		_ = resp.Body.Close()
		t.Error("server still answers after shutdown")
	}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func TestLocalAPIKeepsHTMLUnescaped(t *testing.T) {
	s := startLocalAPI(t, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return job.Input, nil }}, 1, nil)
	code, data := s.do("POST", "/runsync", `{"input":"<b>&</b>"}`)
	if code != http.StatusOK || !strings.Contains(string(data), `"output":"<b>&</b>"`) {
		t.Errorf("/runsync: %d %s, want the input back unescaped", code, data)
	}
}

func TestLocalAPIRetry(t *testing.T) {
	var mu sync.Mutex
	runs := 0
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		runs++
		if runs == 1 {
			return nil, errors.New("flaky")
		}
		return runs, nil
	}}
	s := startLocalAPI(t, cfg, 1, nil)
	run := s.call("POST", "/run", `{"input":1}`)
	s.waitStatus("/status/"+run.ID, statusIs(wire.StatusFailed))
	if w := s.call("POST", "/v2/ep/retry/"+run.ID, ""); w.ID != run.ID || w.Status != wire.StatusInQueue {
		t.Errorf("retry answered %+v, want the same id IN_QUEUE", w)
	}
	if w := s.waitStatus("/status/"+run.ID, statusIs(wire.StatusCompleted)); string(w.Output) != "2" || w.Error != nil {
		t.Errorf("retried job %+v, want output 2 and no error", w)
	}
	// Only FAILED and TIMED_OUT jobs can be retried.
	if code, data := s.do("POST", "/retry/"+run.ID, ""); code != http.StatusBadRequest || !strings.Contains(string(data), "COMPLETED") {
		t.Errorf("retry of a completed job: %d %s, want 400", code, data)
	}
	if code, _ := s.do("POST", "/retry/nope", ""); code != http.StatusNotFound {
		t.Errorf("retry of an unknown job: %d, want 404", code)
	}
}
