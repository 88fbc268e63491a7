package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

const bearer = "Bearer " + testClientKey

// TestClientFlow walks every client route through a job's life and
// compares the response bodies to a golden file.
func TestClientFlow(t *testing.T) {
	t.Parallel()
	srv, fe := newTestServer(t, testKeys(), nil)
	var tr transcript
	wk := testWorkerKey

	r := call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{"n":1},"webhook":"https://example.com/h","policy":{"executionTimeout":60000,"ttl":600000,"lowPriority":true},"s3Config":{"bucketName":"b"}}`))
	tr.add("POST /run", r)
	if r.code != 200 || r.header.Get("X-Request-Id") != "job-1" {
		t.Fatalf("run: %d %s %v", r.code, r.body, r.header)
	}
	sub := fe.submits[0]
	if sub.Webhook != "https://example.com/h" || !sub.Policy.LowPriority || sub.Policy.ExecutionTimeout.Milliseconds() != 60000 ||
		sub.Policy.TTL.Milliseconds() != 600000 || string(sub.Extra["s3Config"]) != `{"bucketName":"b"}` || sub.Sync {
		t.Errorf("submit request decoded wrongly: %+v", sub)
	}
	tr.add("GET /status queued", call(t, srv, "GET", "/v2/ep/status/job-1", bearer, nil))
	tr.add("GET /health", call(t, srv, "GET", "/v2/ep/health", bearer, nil))

	// A worker takes it, reports progress, streams two chunks and finishes.
	r = call(t, srv, "GET", "/v2/ep/job-take/w1?&job_in_progress=0", wk, nil)
	tr.add("GET job-take", r)
	r = call(t, srv, "POST", "/v2/ep/job-done/w1/job-1?&isStream=false", wk, []byte(`{"status": "IN_PROGRESS", "output": {"pct": 50}}`))
	tr.add("POST job-done progress", r)
	r = call(t, srv, "GET", "/v2/ep/status/job-1", bearer, nil)
	var v wire.JobView
	if err := json.Unmarshal(r.body, &v); err != nil || v.Status != engine.StatusInProgress || string(v.Output) != `{"pct":50}` || v.WorkerID != "w1" || *v.DelayTime != 250 {
		t.Errorf("status while running must show the progress update: %s", r.body)
	}
	for _, c := range []string{`{"output": "a"}`, `{"output": "b"}`} {
		r = call(t, srv, "POST", "/v2/ep/job-stream/w1/job-1?&isStream=false", wk, []byte(c))
		if r.code != 200 {
			t.Fatalf("job-stream: %d %s", r.code, r.body)
		}
	}
	tr.add("GET /stream two chunks", call(t, srv, "GET", "/v2/ep/stream/job-1", bearer, nil))
	r = call(t, srv, "POST", "/v2/ep/job-done/w1/job-1?&isStream=true", wk, []byte(`{"output": ["a", "b"]}`))
	tr.add("POST job-done final", r)
	if !fe.results["job-1"].IsStream {
		t.Error("isStream=true not passed to the engine")
	}
	tr.add("GET /stream drained, terminal", call(t, srv, "POST", "/v2/ep/stream/job-1", bearer, nil))
	tr.add("GET /status completed", call(t, srv, "GET", "/v2/ep/status/job-1", bearer, nil))
	tr.add("GET /status-sync completed", call(t, srv, "GET", "/v2/ep/status-sync/job-1?wait=1000", bearer, nil))
	tr.add("POST /cancel completed", call(t, srv, "POST", "/v2/ep/cancel/job-1", bearer, nil))
	tr.add("POST /retry completed", call(t, srv, "POST", "/v2/ep/retry/job-1", bearer, nil))

	// A failing job, retried.
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":"x"}`))
	call(t, srv, "GET", "/v2/ep/job-take/w1?", wk, nil)
	r = call(t, srv, "POST", "/v2/ep/job-done/w1/job-2?&isStream=false", wk, []byte(`{"error": "boom", "stopPod": true}`))
	if r.code != 200 || !fe.results["job-2"].StopPod {
		t.Errorf("job-done error: %d %s %+v", r.code, r.body, fe.results["job-2"])
	}
	tr.add("GET /status failed", call(t, srv, "GET", "/v2/ep/status/job-2", bearer, nil))
	tr.add("POST /retry failed", call(t, srv, "POST", "/v2/ep/retry/job-2", bearer, nil))
	tr.add("POST /cancel queued", call(t, srv, "POST", "/v2/ep/cancel/job-2", bearer, nil))

	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":1}`))
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":2}`))
	tr.add("POST /purge-queue", call(t, srv, "POST", "/v2/ep/purge-queue", bearer, nil))
	tr.add("GET /health after", call(t, srv, "GET", "/v2/ep/health", bearer, nil))
	testutil.Golden(t, "client_flow", tr.Bytes())
}

// TestRunsync checks that /runsync answers with the finished job when a
// worker finishes inside the wait, and with the current status otherwise.
func TestRunsync(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), nil)
	done := make(chan reply, 1)
	go func() {
		done <- call(t, srv, "POST", "/v2/ep/runsync?wait=20000", bearer, []byte(`{"input":{"q":1}}`))
	}()
	r := call(t, srv, "GET", "/v2/ep/job-take/w9?", testWorkerKey, nil)
	if r.code != 200 || !strings.Contains(string(r.body), `"id":"sync-job-1"`) {
		t.Fatalf("job-take: %d %s", r.code, r.body)
	}
	if r = call(t, srv, "POST", "/v2/ep/job-done/w9/sync-job-1?&isStream=false", testWorkerKey, []byte(`{"output": {"a": 1}}`)); r.code != 200 {
		t.Fatalf("job-done: %d %s", r.code, r.body)
	}
	r = <-done
	want := `{"delayTime":250,"executionTime":1500,"id":"sync-job-1","output":{"a":1},"status":"COMPLETED","workerId":"w9"}`
	if r.code != 200 || strings.TrimSpace(string(r.body)) != want || r.header.Get("X-Request-Id") != "sync-job-1" {
		t.Errorf("runsync = %d %s, want 200 %s", r.code, r.body, want)
	}

	// Nobody takes this one: the wait (clamped up to 1 s) runs out.
	r = call(t, srv, "POST", "/v2/ep/runsync?wait=10", bearer, []byte(`{"input":{"q":2}}`))
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"id":"sync-job-2","status":"IN_QUEUE"}` {
		t.Errorf("runsync past its wait = %d %s", r.code, r.body)
	}
}

// TestStreamSSE checks the text/event-stream variant of /stream.
func TestStreamSSE(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), nil)
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{}}`))
	call(t, srv, "GET", "/v2/ep/job-take/w1?", testWorkerKey, nil)
	call(t, srv, "POST", "/v2/ep/job-stream/w1/job-1?&isStream=false", testWorkerKey, []byte("{\"output\": {\n\"t\": 1}}"))
	call(t, srv, "POST", "/v2/ep/job-stream/w1/job-1?&isStream=false", testWorkerKey, []byte(`{"output": "two"}`))
	call(t, srv, "POST", "/v2/ep/job-done/w1/job-1?&isStream=true", testWorkerKey, []byte(`{"output": []}`))
	r := call(t, srv, "GET", "/v2/ep/stream/job-1", bearer, nil, "Accept", "text/event-stream")
	if r.code != 200 || r.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("sse: %d %v", r.code, r.header)
	}
	testutil.Golden(t, "stream_sse", r.body)
}

// TestAuth checks client keys, bare keys, worker keys and open mode.
func TestAuth(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), nil)
	body := []byte(`{"input":1}`)
	cases := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"bearer key", "POST", "/v2/ep/run", "Bearer " + testClientKey, 200},
		{"bare key", "POST", "/v2/ep/run", testClientKey, 200},
		{"lower-case bearer", "POST", "/v2/ep/run", "bearer " + testClientKey, 200},
		{"no key", "POST", "/v2/ep/run", "", 401},
		{"wrong key", "POST", "/v2/ep/run", "Bearer nope", 401},
		{"worker key on client API", "POST", "/v2/ep/run", testWorkerKey, 401},
		{"worker key on health", "GET", "/v2/ep/health", "Bearer " + testWorkerKey, 401},
		{"client key on worker API", "GET", "/v2/ep/ping/w1", testClientKey, 401},
		{"other endpoint's worker key", "GET", "/v2/ep/ping/w1", "worker-key-other", 401},
		{"no key on worker API", "GET", "/v2/ep/ping/w1", "", 401},
		{"worker key on its endpoint", "GET", "/v2/ep/ping/w1", testWorkerKey, 200},
		{"worker key with Bearer tolerated", "GET", "/v2/ep/ping/w1", "Bearer " + testWorkerKey, 200},
	}
	for _, c := range cases {
		var b []byte
		if c.method == "POST" {
			b = body
		}
		r := call(t, srv, c.method, c.path, c.auth, b)
		if r.code != c.want {
			t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, r.code, r.body, c.want)
		}
		if r.code == 401 {
			var e errorBody
			if json.Unmarshal(r.body, &e) != nil || e.Error == "" {
				t.Errorf("%s: 401 body is not a JSON error: %s", c.name, r.body)
			}
		}
	}

	open, _ := newTestServer(t, Keys{Worker: map[string]string{"ep": testWorkerKey}}, nil)
	for _, auth := range []string{"", "Bearer anything"} {
		if r := call(t, open, "POST", "/v2/ep/run", auth, body); r.code != 200 {
			t.Errorf("open mode with auth %q: %d %s", auth, r.code, r.body)
		}
	}
	if r := call(t, open, "POST", "/v2/ep/run", testWorkerKey, body); r.code != 401 {
		t.Errorf("open mode must still refuse a worker key on the client API: %d", r.code)
	}

	perEP, _ := newTestServer(t, Keys{EndpointClient: map[string][]string{"ep": {"ep-only"}}}, nil)
	if r := call(t, perEP, "POST", "/v2/ep/run", "Bearer ep-only", body); r.code != 200 {
		t.Errorf("endpoint key on its endpoint: %d", r.code)
	}
	if r := call(t, perEP, "POST", "/v2/other/run", "Bearer ep-only", body); r.code != 200 {
		t.Errorf("endpoint without keys is open: %d", r.code)
	}
	if r := call(t, perEP, "POST", "/v2/ep/run", "", body); r.code != http.StatusUnauthorized {
		t.Errorf("endpoint with keys needs one: %d", r.code)
	}
}

// handedOff is an engine whose Submit hands the job straight to a waiting
// worker, as the real engine does when one is parked.
type handedOff struct{ *fakeEngine }

func (h handedOff) Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error) {
	j, err := h.fakeEngine.Submit(ctx, endpoint, req)
	if j != nil {
		j.Status = engine.StatusInProgress
	}
	return j, err
}

// TestRunAnswersInQueue: /run answers IN_QUEUE as Runpod does, even for a job
// that a waiting worker already took.
func TestRunAnswersInQueue(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), func(c *Config) { c.Engine = handedOff{newFakeEngine("ep")} })
	r := call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{}}`))
	var v struct{ ID, Status string }
	if err := json.Unmarshal(r.body, &v); err != nil || r.code != 200 || v.ID == "" || v.Status != "IN_QUEUE" {
		t.Fatalf("/run: %d %s", r.code, r.body)
	}
}
