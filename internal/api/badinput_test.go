package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestBadInput sends every kind of bad request and checks each gets a 4xx
// with a JSON error body (golden), and that an accepted job is unharmed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	srv, fe := newTestServer(t, testKeys(), func(c *Config) {
		c.RunBodyLimit = 1 << 10
		c.RunsyncBodyLimit = 2 << 10
		c.ResultBodyLimit = 1 << 10
		c.ChunkBodyLimit = 1 << 10
	})
	ok := call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{"keep":true}}`))
	if ok.code != 200 {
		t.Fatalf("setup run: %d %s", ok.code, ok.body)
	}
	big := []byte(`{"input":"` + strings.Repeat("x", 1<<10) + `"}`)
	cases := []struct {
		name, method, path, auth, body string
	}{
		{"malformed JSON", "POST", "/v2/ep/run", bearer, `{"input": {`},
		{"not an object", "POST", "/v2/ep/run", bearer, `[1,2]`},
		{"empty body", "POST", "/v2/ep/run", bearer, ``},
		{"null body", "POST", "/v2/ep/run", bearer, `null`},
		{"missing input", "POST", "/v2/ep/run", bearer, `{"inputs": 1}`},
		{"null input", "POST", "/v2/ep/runsync", bearer, `{"input": null}`},
		{"policy not an object", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":"fast"}`},
		{"executionTimeout string", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"executionTimeout":"10s"}}`},
		{"executionTimeout too small", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"executionTimeout":100}}`},
		{"executionTimeout fraction", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"executionTimeout":6000.5}}`},
		{"ttl too large", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"ttl":999999999999}}`},
		{"lowPriority not bool", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"lowPriority":"yes"}}`},
		{"unknown policy field", "POST", "/v2/ep/run", bearer, `{"input":1,"policy":{"executionTimout":6000}}`},
		{"webhook not a string", "POST", "/v2/ep/run", bearer, `{"input":1,"webhook":5}`},
		{"webhook not a URL", "POST", "/v2/ep/run", bearer, `{"input":1,"webhook":"ftp://x"}`},
		{"wait not a number", "POST", "/v2/ep/runsync?wait=soon", bearer, `{"input":1}`},
		{"unknown endpoint", "POST", "/v2/nope/run", bearer, `{"input":1}`},
		{"unknown job", "GET", "/v2/ep/status/job-999", bearer, ``},
		{"unknown job stream", "GET", "/v2/ep/stream/job-999", bearer, ``},
		{"unknown job cancel", "POST", "/v2/ep/cancel/job-999", bearer, ``},
		{"wrong method run", "GET", "/v2/ep/run", bearer, ``},
		{"wrong method health", "DELETE", "/v2/ep/health", bearer, ``},
		{"wrong method job-take", "POST", "/v2/ep/job-take/w1", testWorkerKey, `{}`},
		{"unknown route", "GET", "/v2/ep/nothing/here", bearer, ``},
		{"root", "GET", "/", bearer, ``},
		{"run over limit", "POST", "/v2/ep/run", bearer, string(big)},
		{"bad key", "POST", "/v2/ep/run", "Bearer wrong", `{"input":1}`},
		{"worker key on client API", "GET", "/v2/ep/status/job-1", testWorkerKey, ``},
		{"job-done malformed", "POST", "/v2/ep/job-done/w1/job-1?&isStream=false", testWorkerKey, `{"output": `},
		{"job-done not owner", "POST", "/v2/ep/job-done/w1/job-1?&isStream=false", testWorkerKey, `{"output": 1}`},
		{"job-stream without output", "POST", "/v2/ep/job-stream/w1/job-1?&isStream=false", testWorkerKey, `{"chunk": 1}`},
		{"batch_size not a number", "GET", "/v2/ep/job-take-batch/w1?&batch_size=many", testWorkerKey, ``},
		{"worker unknown endpoint", "GET", "/v2/nope/job-take/w1", testWorkerKey, ``},
	}
	var tr transcript
	for _, c := range cases {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		r := call(t, srv, c.method, c.path, c.auth, body)
		if r.code < 400 || r.code >= 500 {
			t.Errorf("%s: status %d, want 4xx (%s)", c.name, r.code, r.body)
		}
		var e errorBody
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: not a JSON error body: %q (%v)", c.name, r.body, err)
		}
		tr.add(fmt.Sprintf("%s: %s %s", c.name, c.method, c.path), r)
	}
	testutil.Golden(t, "bad_input", tr.Bytes())

	// The accepted job is still queued and intact.
	j, err := fe.Get(t.Context(), "ep", "job-1")
	if err != nil || j.Status != "IN_QUEUE" || string(j.Input) != `{"keep":true}` {
		t.Errorf("accepted job harmed: %+v %v", j, err)
	}
	// Under the /runsync limit but over the /run one: accepted by /runsync.
	if r := call(t, srv, "POST", "/v2/ep/runsync?wait=1000", bearer, big); r.code != 200 {
		t.Errorf("runsync with a body under its own limit: %d %s", r.code, r.body)
	}
}

// TestOversizeResultFailsJob checks that a job-done body over the limit
// fails the job explicitly instead of leaving it running.
func TestOversizeResultFailsJob(t *testing.T) {
	t.Parallel()
	srv, fe := newTestServer(t, testKeys(), func(c *Config) { c.ResultBodyLimit = 100 })
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":1}`))
	call(t, srv, "GET", "/v2/ep/job-take/w1?", testWorkerKey, nil)
	r := call(t, srv, "POST", "/v2/ep/job-done/w1/job-1?&isStream=false", testWorkerKey, bytes.Repeat([]byte(" "), 200))
	if r.code != 413 {
		t.Errorf("oversize result: %d %s", r.code, r.body)
	}
	j, _ := fe.Get(t.Context(), "ep", "job-1")
	if j.Status != "FAILED" || !strings.Contains(string(j.Error), "result exceeds") {
		t.Errorf("job after oversize result: %s %s", j.Status, j.Error)
	}
}

// TestInvalidIDs: ids that cannot be NATS subject tokens or keys are a 400
// on every route that takes one.
func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), nil)
	for _, id := range []string{"%2A", "a%3E", "a%20b", "x%00y", "a%2Fb", strings.Repeat("a", maxIDLength+1)} {
		for _, c := range []struct{ method, path, auth string }{
			{"GET", "/v2/ep/status/" + id, bearer},
			{"POST", "/v2/ep/cancel/" + id, bearer},
			{"GET", "/v2/ep/job-take/" + id + "?", testWorkerKey},
			{"GET", "/v2/ep/ping/" + id, testWorkerKey},
			{"POST", "/v2/ep/job-done/w1/" + id + "?", testWorkerKey},
		} {
			if r := call(t, srv, c.method, c.path, c.auth, nil); r.code != 400 {
				t.Errorf("%s %s: %d %s, want 400", c.method, c.path, r.code, r.body)
			}
		}
	}
}
