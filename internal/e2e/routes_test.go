package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	clientKey = "e2e-client-key"
	ck        = "Bearer " + clientKey
)

// newRouteServer serves endpoints ep (plain worker), sep (streaming worker)
// and idle (no worker), with a client key.
func newRouteServer(t *testing.T, args ...string) *server {
	t.Helper()
	args = append([]string{"--endpoint", "ep", "--endpoint", "sep", "--endpoint", "idle"}, args...)
	return startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=other-key, " + clientKey}, args...)
}

// TestRoutes drives every client route with real workers and compares the
// response shapes to a golden file.
func TestRoutes(t *testing.T) {
	s := newRouteServer(t)
	s.startWorker(t, "ep", "w-ep", nil)
	s.startWorker(t, "sep", "w-sep", []string{"E2E_STREAM=1"})
	dir := t.TempDir()
	var g golden

	// An execution timeout, started first because it takes 5 s: TIMED_OUT and
	// the worker's handler is stopped (job-stop delivered).
	s.startWorker(t, "ep", "w-ep2", nil)
	timedOut := filepath.Join(dir, "timed-out-stopped")
	r := s.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"sleep_ms":60000,"stopped":%q},"policy":{"executionTimeout":5000}}`, timedOut))
	timeoutID := r.json(t)["id"].(string)

	// /run, then /status until COMPLETED.
	r = s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":"hi"},"s3Config":{"bucketName":"b"}}`))
	g.add(t, "POST /run", r)
	id := r.json(t)["id"].(string)
	if r.hdr.Get("X-Request-Id") != id {
		t.Errorf("X-Request-Id %q, want the job id %q", r.hdr.Get("X-Request-Id"), id)
	}
	done := s.waitStatus(t, ck, "ep", id, 30*time.Second, "COMPLETED")
	if out := done["output"].(map[string]any); out["echo"] != "hi" || !strings.HasPrefix(out["worker"].(string), "w-ep") {
		t.Errorf("output %v", out)
	}
	g.add(t, "GET /status completed", s.do(t, "GET", "/v2/ep/status/"+id, ck, nil))
	g.add(t, "POST /status completed", s.do(t, "POST", "/v2/ep/status/"+id, ck, nil))

	// /runsync finishing inside its wait.
	r = s.do(t, "POST", "/v2/ep/runsync", ck, []byte(`{"input":{"echo":[1,2]}}`))
	g.add(t, "POST /runsync", r)
	if m := r.json(t); m["status"] != "COMPLETED" || !strings.HasPrefix(m["id"].(string), "sync-") {
		t.Errorf("runsync: %s", r.body)
	}

	// /runsync past its wait answers the id and current status; /status-sync waits.
	r = s.do(t, "POST", "/v2/ep/runsync?wait=1000", ck, []byte(`{"input":{"sleep_ms":2500}}`))
	m := r.json(t)
	if m["status"] != "IN_QUEUE" && m["status"] != "IN_PROGRESS" {
		t.Errorf("runsync past wait: %s", r.body)
	}
	r = s.do(t, "GET", "/v2/ep/status-sync/"+m["id"].(string)+"?wait=30000", ck, nil)
	g.add(t, "GET /status-sync", r)
	if r.json(t)["status"] != "COMPLETED" {
		t.Errorf("status-sync: %s", r.body)
	}

	// Progress: /status of a running job shows the latest update.
	r = s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"progress":3,"sleep_ms":700}}`))
	id = r.json(t)["id"].(string)
	testutil.WaitFor(t, 20*time.Second, "a progress update in /status", func() bool {
		m := s.do(t, "GET", "/v2/ep/status/"+id, ck, nil).json(t)
		out, _ := m["output"].(map[string]any)
		return m["status"] == "IN_PROGRESS" && out != nil && out["step"] != nil
	})
	s.waitStatus(t, ck, "ep", id, 20*time.Second, "COMPLETED")

	// Streaming: every chunk exactly once, in order, then terminal + empty.
	r = s.do(t, "POST", "/v2/sep/run", ck, []byte(`{"input":{"chunks":6,"sleep_ms":100}}`))
	id = r.json(t)["id"].(string)
	var got []float64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r = s.do(t, "GET", "/v2/sep/stream/"+id+"?wait=2000", ck, nil)
		var sv struct {
			Status string `json:"status"`
			Stream []struct {
				Output struct{ Chunk float64 } `json:"output"`
			} `json:"stream"`
		}
		if err := json.Unmarshal(r.body, &sv); err != nil || r.code != 200 {
			t.Fatalf("stream: %d %s", r.code, r.body)
		}
		for _, c := range sv.Stream {
			got = append(got, c.Output.Chunk)
		}
		if sv.Status == "COMPLETED" && len(sv.Stream) == 0 {
			g.add(t, "GET /stream final", r)
			break
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5]" {
		t.Errorf("stream chunks %v, want 0..5 once each in order", got)
	}
	// Without return_aggregate_stream a streaming job has no output in /status.
	if m := s.do(t, "GET", "/v2/sep/status/"+id, ck, nil).json(t); m["status"] != "COMPLETED" || m["output"] != nil {
		t.Errorf("status of a finished streaming job: %v", m)
	}

	// The same as Server-Sent Events.
	r = s.do(t, "POST", "/v2/sep/run", ck, []byte(`{"input":{"chunks":3,"sleep_ms":50}}`))
	id = r.json(t)["id"].(string)
	r = s.do(t, "GET", "/v2/sep/stream/"+id, ck, nil, "Accept", "text/event-stream")
	var events []string
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			sc.Scan()
			if ev == "chunk" {
				ev += " " + strings.TrimPrefix(sc.Text(), "data: ")
			}
			if len(events) == 0 || events[len(events)-1] != ev {
				events = append(events, ev)
			}
		}
	}
	if want := `status|chunk {"chunk":0}|chunk {"chunk":1}|chunk {"chunk":2}|done`; strings.Join(dropStatus(events), "|") != want {
		t.Errorf("SSE events %q, want %s (status events may repeat in between)", events, want)
	}

	// A failing job, retried, fails again and counts a retry.
	r = s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"fail":"boom"}}`))
	id = r.json(t)["id"].(string)
	failed := s.waitStatus(t, ck, "ep", id, 20*time.Second, "FAILED")
	if !strings.Contains(fmt.Sprint(failed["error"]), "boom") {
		t.Errorf("failed job error %v", failed["error"])
	}
	g.add(t, "GET /status failed", s.do(t, "GET", "/v2/ep/status/"+id, ck, nil))
	r = s.do(t, "POST", "/v2/ep/retry/"+id, ck, nil)
	g.add(t, "POST /retry failed", r)
	s.waitStatus(t, ck, "ep", id, 20*time.Second, "FAILED")
	g.add(t, "POST /retry completed (conflict)", s.do(t, "POST", "/v2/ep/retry/"+done["id"].(string), ck, nil))

	// Cancel a queued job (idle has no worker), purge the queue.
	r = s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{}}`))
	id = r.json(t)["id"].(string)
	g.add(t, "POST /cancel queued", s.do(t, "POST", "/v2/idle/cancel/"+id, ck, nil))
	g.add(t, "GET /status cancelled", s.do(t, "GET", "/v2/idle/status/"+id, ck, nil))
	for i := 0; i < 3; i++ {
		s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{}}`))
	}
	r = s.do(t, "POST", "/v2/idle/purge-queue", ck, nil)
	g.add(t, "POST /purge-queue", r)
	if r.json(t)["removed"] != float64(3) {
		t.Errorf("purge: %s", r.body)
	}

	// Cancel a running job: CANCELLED, and the handler is stopped.
	stopped := filepath.Join(dir, "cancel-stopped")
	started := filepath.Join(dir, "cancel-started")
	r = s.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"sleep_ms":60000,"started":%q,"stopped":%q}}`, started, stopped))
	id = r.json(t)["id"].(string)
	testutil.WaitFor(t, 20*time.Second, "the handler to start", func() bool { return exists(started) })
	g.add(t, "POST /cancel running", s.do(t, "POST", "/v2/ep/cancel/"+id, ck, nil))
	testutil.WaitFor(t, 40*time.Second, "the cancelled handler to be stopped (job-stop)", func() bool { return exists(stopped) })
	if m := s.do(t, "GET", "/v2/ep/status/"+id, ck, nil).json(t); m["status"] != "CANCELLED" {
		t.Errorf("cancelled running job: %v", m)
	}

	// Health: every worker key is present; jobs are counted.
	r = s.do(t, "GET", "/v2/idle/health", ck, nil)
	g.add(t, "GET /health", r)
	if jobs := s.do(t, "GET", "/v2/ep/health", ck, nil).json(t)["jobs"].(map[string]any); jobs["completed"].(float64) < 4 || jobs["failed"].(float64) < 1 {
		t.Errorf("ep health jobs: %v", jobs)
	}
	workers, _ := r.json(t)["workers"].(map[string]any)
	for _, k := range []string{"idle", "initializing", "ready", "running", "throttled", "unhealthy"} {
		if _, ok := workers[k]; !ok {
			t.Errorf("health workers lacks %q: %s", k, r.body)
		}
	}

	// The execution timeout started at the beginning.
	m = s.waitStatus(t, ck, "ep", timeoutID, 40*time.Second, "TIMED_OUT")
	g.add(t, "GET /status timed out", s.do(t, "GET", "/v2/ep/status/"+timeoutID, ck, nil))
	testutil.WaitFor(t, 40*time.Second, "the timed-out handler to be stopped (job-stop)", func() bool { return exists(timedOut) })
	_ = m
	g.check(t, "routes")
}

func dropStatus(events []string) []string {
	var out []string
	for i, e := range events {
		if e == "status" && i > 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestBadRequests checks auth and bad input against the real server: each
// answer a 4xx with a JSON error, and a job accepted before is unharmed.
func TestBadRequests(t *testing.T) {
	s := newRouteServer(t)
	r := s.do(t, "POST", "/v2/idle/run", ck, []byte(`{"input":{"keep":1}}`))
	keep := r.json(t)["id"].(string)
	wkey := ""
	for _, kv := range s.workerEnv(t, "ep", "x") {
		if v, ok := strings.CutPrefix(kv, "RUNPOD_AI_API_KEY="); ok {
			wkey = v
		}
	}
	var g golden
	for _, c := range []struct {
		name, method, path, auth, body string
		code                           int
	}{
		{"no key", "POST", "/v2/ep/run", "", `{"input":1}`, 401},
		{"bad key", "POST", "/v2/ep/run", "Bearer nope", `{"input":1}`, 401},
		{"worker key on client API", "GET", "/v2/ep/health", wkey, ``, 401},
		{"client key on worker API", "GET", "/v2/ep/job-take/w1?", clientKey, ``, 401},
		{"malformed JSON", "POST", "/v2/ep/run", ck, `{"input":`, 400},
		{"missing input", "POST", "/v2/ep/run", ck, `{"webhook":"http://x/y"}`, 400},
		{"policy type", "POST", "/v2/ep/run", ck, `{"input":1,"policy":{"ttl":"1d"}}`, 400},
		{"unknown endpoint", "POST", "/v2/nope/run", ck, `{"input":1}`, 404},
		{"unknown job", "GET", "/v2/ep/status/00000000-0000-0000-0000-000000000000", ck, ``, 404},
		{"wrong method", "GET", "/v2/ep/runsync", ck, ``, 405},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		r := s.do(t, c.method, c.path, c.auth, body)
		if r.code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, r.code, r.body, c.code)
		}
		if m := r.json(t); m["error"] == "" || m["error"] == nil {
			t.Errorf("%s: no error message: %s", c.name, r.body)
		}
		g.add(t, c.name, r)
	}
	g.check(t, "bad_requests")
	if m := s.do(t, "GET", "/v2/idle/status/"+keep, ck, nil).json(t); m["status"] != "IN_QUEUE" {
		t.Errorf("accepted job harmed by bad requests: %v", m)
	}
}

// TestLoopbackRefusal: without client keys serve refuses a non-loopback
// address, says why, and never listens.
func TestLoopbackRefusal(t *testing.T) {
	cmd := execSluice("serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "SLUICE_API_KEYS=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen on 0.0.0.0:0") || !strings.Contains(string(out), "SLUICE_API_KEYS") {
		t.Errorf("serve on 0.0.0.0 without keys: err=%v output:\n%s", err, out)
	}
}

// TestWorkerLongPolls: with --take-hold 1s an idle worker's job-take and
// job-stop are held about a second, then answered 204; a queued job is
// handed out at once with its extra request fields.
func TestWorkerLongPolls(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey}, "--endpoint", "ep", "--take-hold", "1s")
	var key string
	for _, kv := range s.workerEnv(t, "ep", "raw") {
		if v, ok := strings.CutPrefix(kv, "RUNPOD_AI_API_KEY="); ok {
			key = v
		}
	}
	for _, path := range []string{"/v2/ep/job-take/raw?&job_in_progress=0", "/v2/ep/job-take-batch/raw?&batch_size=2&job_in_progress=0", "/v2/ep/job-stop/raw?"} {
		start := time.Now()
		r := s.do(t, "GET", path, key, nil)
		if d := time.Since(start); r.code != 204 || d < 900*time.Millisecond || d > 10*time.Second {
			t.Errorf("GET %s: %d after %v; want 204 after the 1 s hold", path, r.code, d)
		}
	}
	r := s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"x":1},"s3Config":{"bucketName":"b"}}`))
	id := r.json(t)["id"].(string)
	r = s.do(t, "GET", "/v2/ep/job-take/raw?&job_in_progress=0", key, nil)
	if want := `{"id":"` + id + `","input":{"x":1},"s3Config":{"bucketName":"b"}}`; r.code != 200 || strings.TrimSpace(string(r.body)) != want {
		t.Errorf("job-take: %d %s; want %s", r.code, r.body, want)
	}
	// runpod-python's job-done: form content type, charset header, NaN in the body.
	r = s.do(t, "POST", "/v2/ep/job-done/raw/"+id+"?&isStream=false", key, []byte(`{"output": {"v": NaN, "ok": true}}`),
		"Content-Type", "application/x-www-form-urlencoded", "charset", "utf-8")
	if r.code != 200 {
		t.Fatalf("job-done: %d %s", r.code, r.body)
	}
	m := s.waitStatus(t, ck, "ep", id, 10*time.Second, "COMPLETED")
	if fmt.Sprint(m["output"]) != "map[ok:true v:<nil>]" {
		t.Errorf("output with NaN: %v", m["output"])
	}
}
