package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// TestWorkerQuirks sends what runpod-python really sends (docs/spec/runpod-worker-protocol.md section 6)
// and checks each request reaches the engine as meant.
func TestWorkerQuirks(t *testing.T) {
	t.Parallel()
	srv, fe := newTestServer(t, testKeys(), nil)
	wk := testWorkerKey

	// job-take long-polls, then 204.
	start := time.Now()
	r := call(t, srv, "GET", "/v2/ep/job-take/w1?&job_in_progress=0", wk, nil)
	if r.code != 204 || time.Since(start) < 250*time.Millisecond {
		t.Errorf("empty job-take: %d after %v; want 204 after the hold", r.code, time.Since(start))
	}

	for i := 0; i < 3; i++ {
		call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{"i":`+string(rune('0'+i))+`}}`))
	}
	// A template without "?": the parameters land in the path.
	r = call(t, srv, "GET", "/v2/ep/job-take/w1&job_in_progress=0", wk, nil)
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"id":"job-1","input":{"i":0}}` {
		t.Errorf("job-take with & in path: %d %s", r.code, r.body)
	}
	if j, _ := fe.Get(t.Context(), "ep", "job-1"); j.WorkerID != "w1" {
		t.Errorf("worker id parsed as %q", j.WorkerID)
	}
	// Batch: an array, batch_size honoured.
	r = call(t, srv, "GET", "/v2/ep/job-take-batch/w2?&batch_size=5&job_in_progress=1", wk, nil)
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `[{"id":"job-2","input":{"i":1}},{"id":"job-3","input":{"i":2}}]` {
		t.Errorf("job-take-batch: %d %s", r.code, r.body)
	}

	// Form content type, charset header, JSON body with NaN and Infinity, non-ASCII.
	r = call(t, srv, "POST", "/v2/ep/job-done/w1/job-1&isStream=false", wk,
		[]byte(`{"output": {"score": NaN, "hi": Infinity, "lo": -Infinity, "s": "NaN in a string", "ü": "é"}}`),
		"Content-Type", "application/x-www-form-urlencoded", "charset", "utf-8", "X-Request-ID", "stale-id")
	if r.code != 200 {
		t.Fatalf("job-done quirks: %d %s", r.code, r.body)
	}
	var out map[string]any
	if err := json.Unmarshal(fe.results["job-1"].Output, &out); err != nil {
		t.Fatalf("output stored is not JSON: %s", fe.results["job-1"].Output)
	}
	if out["score"] != nil || out["hi"] != nil || out["lo"] != nil || out["s"] != "NaN in a string" || out["ü"] != "é" {
		t.Errorf("NaN/Infinity handling: %v", out)
	}

	// An empty dict result ({}) completes with no output; falsy errors do not fail.
	call(t, srv, "POST", "/v2/ep/job-done/w2/job-2?&isStream=false", wk, []byte(`{}`))
	call(t, srv, "POST", "/v2/ep/job-done/w2/job-3?&isStream=false", wk, []byte(`{"output": 1, "error": ""}`))
	for _, id := range []string{"job-2", "job-3"} {
		if j, _ := fe.Get(t.Context(), "ep", id); j.Status != "COMPLETED" {
			t.Errorf("%s: %s %s", id, j.Status, j.Error)
		}
	}
	// A late result from a worker that no longer holds the job: 409, job unharmed.
	r = call(t, srv, "POST", "/v2/ep/job-done/w9/job-2?&isStream=false", wk, []byte(`{"error": "late"}`))
	if j, _ := fe.Get(t.Context(), "ep", "job-2"); r.code != 409 || j.Status != "COMPLETED" {
		t.Errorf("late result: %d, job %s", r.code, j.Status)
	}

	// Ping: comma list (encoded), runpod_version, no job_id when idle.
	call(t, srv, "GET", "/v2/ep/ping/w1?job_id=a%2Cb,c&runpod_version=1.12.0", wk, nil)
	call(t, srv, "GET", "/v2/ep/ping/w2?runpod_version=1.12.0", wk, nil)
	fe.mu.Lock()
	p1, p2, seen2 := fe.pings["w1"], fe.pings["w2"], false
	_, seen2 = fe.pings["w2"]
	fe.mu.Unlock()
	if !slices.Equal(p1, []string{"a", "b", "c"}) || len(p2) != 0 || !seen2 {
		t.Errorf("pings: w1=%v w2=%v (seen %v)", p1, p2, seen2)
	}

	// job-stop: 204 after the hold, then the ids of a cancelled running job.
	if r = call(t, srv, "GET", "/v2/ep/job-stop/w1?", wk, nil); r.code != 204 {
		t.Errorf("idle job-stop: %d", r.code)
	}
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":4}`))
	call(t, srv, "GET", "/v2/ep/job-take/w1?", wk, nil)
	stop := make(chan reply, 1)
	go func() { stop <- call(t, srv, "GET", "/v2/ep/job-stop/w1?gpu=x", wk, nil) }()
	call(t, srv, "POST", "/v2/ep/cancel/job-4", bearer, nil)
	r = <-stop
	if r.code == 204 { // the poll may have started before the cancel and ended by its hold
		r = call(t, srv, "GET", "/v2/ep/job-stop/w1?gpu=x", wk, nil)
	}
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"jobsToStop":["job-4"]}` {
		t.Errorf("job-stop: %d %s", r.code, r.body)
	}
}

// lateTake is an engine whose Take claims a job just as the request's
// context ends, as a real engine may, and records what is released.
type lateTake struct {
	*fakeEngine
	parked   chan struct{}
	released chan []string
}

func (l lateTake) Take(ctx context.Context, endpoint, workerID string, n int) ([]*engine.Job, error) {
	close(l.parked)
	<-ctx.Done()
	return []*engine.Job{{ID: "late-1", Endpoint: endpoint, Status: engine.StatusInProgress, Input: json.RawMessage(`{}`)}}, nil
}

func (l lateTake) Release(ctx context.Context, endpoint, workerID string, jobIDs []string) error {
	l.released <- jobIDs
	return nil
}

// TestTakeGoneReleases: jobs taken for a job-take whose worker went away
// are released, not written to the closed connection and lost.
func TestTakeGoneReleases(t *testing.T) {
	t.Parallel()
	lt := lateTake{fakeEngine: newFakeEngine("ep"), parked: make(chan struct{}), released: make(chan []string, 1)}
	srv, _ := newTestServer(t, testKeys(), func(c *Config) { c.Engine = lt; c.TakeHold = time.Minute })
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/ep/job-take/w1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", testWorkerKey)
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-lt.parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the job-take never reached the engine")
	}
	cancel() // the worker goes away
	if err := <-done; err == nil {
		t.Fatal("the cancelled job-take got an answer")
	}
	select {
	case ids := <-lt.released:
		if len(ids) != 1 || ids[0] != "late-1" {
			t.Fatalf("released %v, want [late-1]", ids)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job taken for the gone job-take was not released")
	}
}
