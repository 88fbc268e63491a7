package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
)

func checkHeaders(t *testing.T, r seen, withBody bool) {
	t.Helper()
	if got := r.Header.Get("Authorization"); got != "Bearer test-key" {
		t.Errorf("Authorization = %q, want %q", got, "Bearer test-key")
	}
	ct := r.Header.Get("Content-Type")
	if withBody && ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !withBody && len(r.Body) != 0 {
		t.Errorf("unexpected body %q", r.Body)
	}
}

func TestRunRequest(t *testing.T) {
	t.Parallel()
	type prompt struct {
		Prompt string `json:"prompt"`
		Steps  int    `json:"steps"`
	}
	cases := []struct {
		name  string
		input any
		opts  []client.RequestOption
	}{
		{"run_minimal", prompt{"a cat", 20}, nil},
		{"run_nil_input", nil, nil},
		{"run_raw_input", json.RawMessage(`[1, "two", {"three": 3}]`), nil},
		{"run_no_html_escaping", map[string]string{"q": "<a & b>"}, []client.RequestOption{
			client.WithWebhook("http://127.0.0.1:9/h?a=1&b=2"),
			client.WithField("extra", json.RawMessage(`{"html": "<i>&amp;</i>"}`)),
		}},
		{"run_full", map[string]any{"prompt": "x"}, []client.RequestOption{
			client.WithWebhook("http://127.0.0.1:9/hook"),
			client.WithExecutionTimeout(2 * time.Minute), client.WithTTL(time.Hour),
			client.WithLowPriority(),
			client.WithField("s3Config", json.RawMessage(`{"bucketName":"b"}`)),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				reply(w, 200, `{"id":"job-1","status":"IN_QUEUE"}`)
			})
			st, err := f.client().Endpoint("ep-1").Run(context.Background(), tc.input, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if st.ID != "job-1" || st.Status != client.StatusInQueue {
				t.Errorf("got %+v", st)
			}
			if string(st.Raw) != `{"id":"job-1","status":"IN_QUEUE"}` {
				t.Errorf("Raw = %s", st.Raw)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/v2/ep-1/run" || reqs[0].Query != "" {
				t.Fatalf("requests = %+v", reqs)
			}
			checkHeaders(t, reqs[0], true)
			testutil.Golden(t, tc.name, reqs[0].Body)
		})
	}
}

func TestRunInvalidRawInput(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, `{}`) })
	_, err := f.client().Endpoint("e").Run(context.Background(), json.RawMessage(`{bad`))
	if err == nil {
		t.Fatal("no error for invalid raw input")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

func TestRunIsNotRetried(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 503, `{"error":"overloaded"}`)
	})
	_, err := f.client().Endpoint("e").Run(context.Background(), map[string]int{"a": 1})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Message != "overloaded" {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("/run sent %d times, want 1", n)
	}
}

func TestStatusRetriesOn429Then200(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "0")
			reply(w, 429, `{"error":"slow down"}`)
			return
		}
		reply(w, 200, `{"id":"j","status":"COMPLETED","output":{"ok":true},"delayTime":12,"executionTime":34,"workerId":"w1","retries":1}`)
	})
	st, err := f.client().Endpoint("e").Status(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	want := client.JobStatus{ID: "j", Status: client.StatusCompleted, DelayTime: 12, ExecutionTime: 34,
		Output: json.RawMessage(`{"ok":true}`), WorkerID: "w1", Retries: 1}
	if string(st.Output) != string(want.Output) {
		t.Errorf("output %s", st.Output)
	}
	if st.ID != want.ID || st.Status != want.Status || st.DelayTime != want.DelayTime ||
		st.ExecutionTime != want.ExecutionTime || st.WorkerID != want.WorkerID || st.Retries != want.Retries || st.Error != "" {
		t.Errorf("status = %+v, want %+v", *st, want)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Method != "GET" || r.Path != "/v2/e/status/j" {
			t.Errorf("request %s %s", r.Method, r.Path)
		}
		checkHeaders(t, r, false)
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 500, `{"error":"boom"}`)
	})
	_, err := f.client(client.WithRetries(2)).Endpoint("e").Health(context.Background())
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestConnectionErrorRetried(t *testing.T) {
	t.Parallel()
	// A server that hangs up without answering the first request.
	f := newFake(t, nil)
	f.handle = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		reply(w, 200, `{"jobs":{"inQueue":3},"workers":{"idle":1}}`)
	}
	h, err := f.client().Endpoint("e").Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Jobs.InQueue != 3 || h.Workers.Idle != 1 {
		t.Errorf("health = %+v", h)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code     int
		body     string
		sentinel error
		text     string
	}{
		{401, `{"error":"bad key"}`, client.ErrUnauthorized, "status job j: unauthorized (401): bad key"},
		{403, `forbidden`, client.ErrUnauthorized, "status job j: forbidden (403): forbidden"},
		{404, "404 page not found\n", client.ErrNotFound, "status job j: not found (404): 404 page not found"},
		{410, `{"message":"expired"}`, client.ErrNotFound, "status job j: gone (410): expired"},
		{413, `{"detail":"body over 10 MB"}`, client.ErrTooLarge, "status job j: too large (413): body over 10 MB"},
		{429, `{"title":"rate"}`, client.ErrRateLimited, "status job j: rate limited (429): rate"},
		{400, `{"error":{"code":1}}`, nil, `status job j: bad request (400): {"code":1}`},
	}
	sentinels := []error{client.ErrUnauthorized, client.ErrNotFound, client.ErrTooLarge, client.ErrRateLimited}
	for _, tc := range cases {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, tc.code, tc.body) })
		_, err := f.client(client.WithRetries(0)).Endpoint("e").Status(context.Background(), "j")
		if err == nil {
			t.Fatalf("%d: no error", tc.code)
		}
		if err.Error() != tc.text {
			t.Errorf("%d: error %q, want %q", tc.code, err, tc.text)
		}
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != errors.Is(s, tc.sentinel) {
				t.Errorf("%d: errors.Is(err, %v) = %v", tc.code, s, got)
			}
		}
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.StatusCode != tc.code {
			t.Errorf("%d: not an APIError: %v", tc.code, err)
		}
	}
}

func TestEndpointCalls(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/v2/my%20ep/cancel/j%2F1", "/v2/my ep/cancel/j/1":
			reply(w, 200, `{"id":"j/1","status":"CANCELLED"}`)
		case "/v2/my ep/retry/j/1":
			reply(w, 200, `{"id":"j/1","status":"IN_QUEUE"}`)
		case "/v2/my ep/purge-queue":
			reply(w, 200, `{"removed":4,"status":"completed"}`)
		case "/v2/my ep/health":
			reply(w, 200, `{"jobs":{"completed":1,"failed":5,"inProgress":0,"inQueue":2,"retried":0},"workers":{"idle":0,"running":1,"unhealthy":2}}`)
		case "/v2/my ep/workers":
			reply(w, 200, `{"workers":[{"id":"w1","endpoint":"my ep","status":"running","pid":42,"jobs":["j/1"]}]}`)
		case "/v2/endpoints":
			reply(w, 200, `{"endpoints":[{"id":"my ep","managed":true,"workersMax":3,"inQueue":2}]}`)
		default:
			reply(w, 404, `{"error":"no route"}`)
		}
	})
	ctx := context.Background()
	c := f.client()
	ep := c.Endpoint("my ep")
	if st, err := ep.Cancel(ctx, "j/1"); err != nil || st.Status != client.StatusCancelled {
		t.Errorf("cancel: %+v %v", st, err)
	}
	if st, err := ep.Retry(ctx, "j/1"); err != nil || st.Status != client.StatusInQueue {
		t.Errorf("retry: %+v %v", st, err)
	}
	if p, err := ep.PurgeQueue(ctx); err != nil || p.Removed != 4 || p.Status != "completed" {
		t.Errorf("purge: %+v %v", p, err)
	}
	h, err := ep.Health(ctx)
	if err != nil || h.Jobs.Failed != 5 || h.Jobs.InQueue != 2 || h.Workers.Running != 1 || h.Workers.Unhealthy != 2 {
		t.Errorf("health: %+v %v", h, err)
	}
	if l, err := ep.Workers(ctx); err != nil || len(l.Workers) != 1 || l.Workers[0].ID != "w1" || l.Workers[0].PID != 42 ||
		l.Workers[0].Status != "running" || len(l.Workers[0].Jobs) != 1 || !strings.HasPrefix(string(l.Raw), `{"workers":`) {
		t.Errorf("workers: %+v %v", l, err)
	}
	if l, err := c.Endpoints(ctx); err != nil || len(l.Endpoints) != 1 || l.Endpoints[0].ID != "my ep" || !l.Endpoints[0].Managed ||
		l.Endpoints[0].WorkersMax != 3 || l.Endpoints[0].InQueue != 2 {
		t.Errorf("endpoints: %+v %v", l, err)
	}
	want := []struct{ method, rawPath string }{
		{"POST", "/v2/my%20ep/cancel/j%2F1"},
		{"POST", "/v2/my%20ep/retry/j%2F1"},
		{"POST", "/v2/my%20ep/purge-queue"},
		{"GET", "/v2/my%20ep/health"},
		{"GET", "/v2/my%20ep/workers"},
		{"GET", "/v2/endpoints"},
	}
	reqs := f.requests()
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if r.Method != want[i].method || r.Raw != want[i].rawPath {
			t.Errorf("request %d: %s %s, want %s %s", i, r.Method, r.Raw, want[i].method, want[i].rawPath)
		}
		checkHeaders(t, r, false)
	}
}

func TestEscapedPaths(t *testing.T) {
	t.Parallel()
	var raw []string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		raw = append(raw, r.URL.EscapedPath())
		reply(w, 200, `{"id":"a/b","status":"CANCELLED"}`)
	})
	if _, err := f.client().Endpoint("my ep").Cancel(context.Background(), "a/b"); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || raw[0] != "/v2/my%20ep/cancel/a%2Fb" {
		t.Errorf("escaped path %q", raw)
	}
}

func TestBaseURLAndAuth(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"jobs":{},"workers":{}}`)
	})
	for _, base := range []string{f.srv.URL, f.srv.URL + "/", f.srv.URL + "/v2", f.srv.URL + "/v2/"} {
		c := client.New(base, "")
		if c.BaseURL() != f.srv.URL {
			t.Errorf("New(%q).BaseURL() = %q", base, c.BaseURL())
		}
		if _, err := c.Endpoint("e").Health(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.requests() {
		if r.Path != "/v2/e/health" {
			t.Errorf("path %q", r.Path)
		}
		if _, ok := r.Header["Authorization"]; ok {
			t.Errorf("Authorization sent with an empty key")
		}
	}
	if got := client.New("", "k").BaseURL(); got != client.DefaultBaseURL {
		t.Errorf("default base %q", got)
	}
}

func TestJobStatusDecodeAndErr(t *testing.T) {
	t.Parallel()
	var st client.JobStatus
	if err := json.Unmarshal([]byte(`{"id":"j","status":"FAILED","error":{"error_type":"ValueError"}}`), &st); err != nil {
		t.Fatal(err)
	}
	if st.Error != `{"error_type":"ValueError"}` {
		t.Errorf("object error kept as %q", st.Error)
	}
	var je *client.JobError
	if err := st.Err(); !errors.As(err, &je) || je.Status != client.StatusFailed || err.Error() != `job j FAILED: {"error_type":"ValueError"}` {
		t.Errorf("Err() = %v", err)
	}
	if err := st.Decode(new(any)); !errors.Is(err, client.ErrNoOutput) {
		t.Errorf("Decode without output: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"id":"j","status":"COMPLETED","output":{"n":3},"error":null}`), &st); err != nil {
		t.Fatal(err)
	}
	var out struct{ N int }
	if err := st.Decode(&out); err != nil || out.N != 3 || st.Err() != nil || st.Error != "" {
		t.Errorf("Decode = %v %+v, Err = %v", err, out, st.Err())
	}
	if err := json.Unmarshal([]byte(`{"id":"j","status":"RUNNING"}`), &st); err != nil || st.Status != client.StatusInProgress {
		t.Errorf("RUNNING read as %q (%v)", st.Status, err)
	}
	st = client.JobStatus{DelayTime: 1500, ExecutionTime: 20}
	if st.Delay() != 1500*time.Millisecond || st.Execution() != 20*time.Millisecond {
		t.Errorf("durations %v %v", st.Delay(), st.Execution())
	}
}
