package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

// TestJobsWire pins the listing bodies.
func TestJobsWire(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 19, 51, 44, 123456789, time.FixedZone("CET", 3600))
	failed := &engine.Job{ID: "3f2c9a4e-0b1d-4c5e-8f6a-7b8c9d0e1f2a", Status: engine.StatusFailed, CreatedAt: t0,
		StartedAt: t0.Add(12 * time.Millisecond), FinishedAt: t0.Add(352 * time.Millisecond), WorkerID: "w-2", Retries: 1,
		Error: json.RawMessage(`"{\"error_type\": \"ValueError\", \"error_message\": \"bad input\\nmore\", \"error_traceback\": \"Traceback (most recent call last):\\n  x\"}"`)}
	queued := &engine.Job{ID: "sync-1b2c3d4e-0000-4000-8000-000000000001", Status: engine.StatusInQueue, CreatedAt: t0.Add(time.Second)}
	page := &engine.ListPage{Jobs: []*engine.Job{queued, failed}, Next: &engine.ListCursor{At: t0, ID: failed.ID}}
	testutil.Golden(t, "jobs_list", testutil.Must(wire.Encode(jobListOf(page))))
	testutil.Golden(t, "jobs_list_last", testutil.Must(wire.Encode(jobListOf(&engine.ListPage{}))))

	d := &engine.JobDetail{Job: *failed, InputBytes: 9, Attempts: []engine.Attempt{
		{Attempt: 1, WorkerID: "w-1", StartedAt: t0.Add(5 * time.Millisecond), FinishedAt: t0.Add(9 * time.Millisecond), Outcome: engine.OutcomeWorkerLost, Error: "worker w-1 exited with status 137"},
		{Attempt: 2, WorkerID: "w-2", StartedAt: t0.Add(12 * time.Millisecond), FinishedAt: t0.Add(352 * time.Millisecond), Outcome: "FAILED", Error: "ValueError: bad input"},
	}, StreamChunks: 2, Webhook: &engine.WebhookState{URL: "https://example.com/hook", State: engine.WebhookFailed, Attempts: 3, LastError: "POST https://example.com/hook: 500 Internal Server Error"}}
	d.Input = json.RawMessage(`{"n": 42}`)
	testutil.Golden(t, "job_detail", testutil.Must(wire.Encode(jobDetailOf(d))))

	running := &engine.JobDetail{Job: engine.Job{ID: "r1", Status: engine.StatusInProgress, CreatedAt: t0, StartedAt: t0.Add(time.Millisecond),
		WorkerID: "w-3", Output: json.RawMessage(`{"pct":40}`)},
		InputBytes: 70000, InputTruncated: true, InputPreview: []byte(`{"text":"é` + "\xc3"),
		Attempts: []engine.Attempt{{Attempt: 1, WorkerID: "w-3", StartedAt: t0.Add(time.Millisecond), Outcome: engine.OutcomeRunning}},
		Webhook:  &engine.WebhookState{URL: "https://example.com/hook", State: engine.WebhookPending}}
	v := jobDetailOf(running)
	v.ExecutionTime = nil // grows while running
	testutil.Golden(t, "job_detail_running", testutil.Must(wire.Encode(v)))
}

// listServer serves the API over a real embedded engine with endpoints ep and other.
func listServer(t *testing.T, keys Keys) (*httptest.Server, *engine.Engine) {
	t.Helper()
	ctx := testutil.Context(t, 60*time.Second)
	e, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Endpoints: []engine.EndpointSettings{{ID: "ep"}, {ID: "other"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	srv := httptest.NewServer(New(Config{Engine: e, Keys: keys}))
	t.Cleanup(srv.Close)
	return srv, e
}

func decodeAs[T any](t *testing.T, rp reply, code int) T {
	t.Helper()
	var v T
	if rp.code != code {
		t.Fatalf("status %d, want %d: %s", rp.code, code, rp.body)
	}
	if err := json.Unmarshal(rp.body, &v); err != nil {
		t.Fatalf("decode %s: %v", rp.body, err)
	}
	return v
}

// TestJobsRoutes: the listing, detail and input routes over a real engine,
// with their errors and key checks.
func TestJobsRoutes(t *testing.T) {
	keys := Keys{Client: []string{testClientKey}, EndpointClient: map[string][]string{"other": {"other-only"}}}
	srv, e := listServer(t, keys)
	ctx := testutil.Context(t, 60*time.Second)
	auth := "Bearer " + testClientKey
	var ids []string
	for i := range 5 {
		rp := call(t, srv, http.MethodPost, "/v2/ep/run", auth, fmt.Appendf(nil, `{"input":{"n":%d}}`, i))
		ids = append(ids, decodeAs[wire.Submitted](t, rp, http.StatusOK).ID)
	}
	j := testutil.Must(e.Take(ctx, "ep", "w1", 1))[0]
	if err := e.Finish(ctx, "ep", "w1", j.ID, engine.Result{Error: json.RawMessage(`"it broke\nat line 2"`)}); err != nil {
		t.Fatal(err)
	}

	l := decodeAs[wire.JobList](t, call(t, srv, http.MethodGet, "/v2/ep/jobs", auth, nil), http.StatusOK)
	var got []string
	for _, s := range l.Jobs {
		got = append(got, s.ID)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) || l.NextCursor != "" {
		t.Fatalf("list: %v next %q, want %v", got, l.NextCursor, want)
	}

	l = decodeAs[wire.JobList](t, call(t, srv, http.MethodGet, "/v2/ep/jobs?status=FAILED", auth, nil), http.StatusOK)
	if len(l.Jobs) != 1 || l.Jobs[0].ID != j.ID || l.Jobs[0].Error != "it broke" || l.Jobs[0].WorkerID != "w1" ||
		l.Jobs[0].DelayTime == nil || l.Jobs[0].FinishedAt.IsZero() {
		t.Fatalf("FAILED list: %+v", l.Jobs)
	}
	l = decodeAs[wire.JobList](t, call(t, srv, http.MethodGet, "/v2/ep/jobs?status=in_queue,FAILED&limit=2", auth, nil), http.StatusOK)
	if len(l.Jobs) != 2 || l.NextCursor == "" {
		t.Fatalf("first page of 2: %+v", l)
	}
	seen := []string{l.Jobs[0].ID, l.Jobs[1].ID}
	for l.NextCursor != "" {
		l = decodeAs[wire.JobList](t, call(t, srv, http.MethodGet, "/v2/ep/jobs?status=IN_QUEUE,FAILED&limit=2&cursor="+url.QueryEscape(l.NextCursor), auth, nil), http.StatusOK)
		for _, s := range l.Jobs {
			seen = append(seen, s.ID)
		}
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("paged: %v, want %v", seen, want)
	}

	d := decodeAs[wire.JobDetail](t, call(t, srv, http.MethodGet, "/v2/ep/jobs/"+j.ID, auth, nil), http.StatusOK)
	if d.Status != engine.StatusFailed || d.Error != "it broke\nat line 2" || string(d.Input) != `{"n":0}` || d.InputBytes != 7 ||
		len(d.Attempts) != 1 || d.Attempts[0].Outcome != "FAILED" || d.Attempts[0].WorkerID != "w1" || d.Webhook != nil {
		t.Fatalf("detail: %+v", d)
	}
	in := call(t, srv, http.MethodGet, "/v2/ep/jobs/"+ids[1]+"/input", auth, nil)
	if in.code != http.StatusOK || string(in.body) != `{"n":1}` || in.header.Get("Content-Type") != contentTypeJSON {
		t.Fatalf("input: %d %s %s", in.code, in.header.Get("Content-Type"), in.body)
	}

	for _, c := range []struct {
		path, key string
		code      int
		msg       string
	}{
		{"/v2/ep/jobs?status=DONE", auth, 400, "IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT"},
		{"/v2/ep/jobs?status=FAILED,", auth, 400, "unknown status"},
		{"/v2/ep/jobs?limit=0", auth, 400, "from 1 to 500"},
		{"/v2/ep/jobs?limit=501", auth, 400, "from 1 to 500"},
		{"/v2/ep/jobs?limit=ten", auth, 400, "from 1 to 500"},
		{"/v2/ep/jobs?cursor=not-a-cursor", auth, 400, "nextCursor"},
		{"/v2/ep/jobs?cursor=", auth, 400, "nextCursor"},
		{"/v2/ep/jobs/" + strings.Repeat("a", 40), auth, 404, "not found"},
		{"/v2/ep/jobs/nope/input", auth, 404, "not found"},
		{"/v2/ep/jobs", "", 401, ""},
		{"/v2/ep/jobs", "Bearer other-only", 401, ""},
		{"/v2/other/jobs", "Bearer other-only", 200, ""},
		{"/v2/missing/jobs", auth, 404, "not found"},
	} {
		rp := call(t, srv, http.MethodGet, c.path, c.key, nil)
		var body struct{ Error string }
		if rp.code != c.code || json.Unmarshal(rp.body, &body) != nil || !strings.Contains(body.Error, c.msg) {
			t.Errorf("GET %s: %d %s, want %d with %q", c.path, rp.code, rp.body, c.code, c.msg)
		}
	}
	if rp := call(t, srv, http.MethodPost, "/v2/ep/jobs", auth, []byte(`{}`)); rp.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /jobs: %d", rp.code)
	}
}

// TestJobsWithoutLister: an engine that cannot list answers 404 with a reason.
func TestJobsWithoutLister(t *testing.T) {
	srv, _ := newTestServer(t, Keys{}, nil)
	rp := call(t, srv, http.MethodGet, "/v2/ep/jobs", "", nil)
	if rp.code != http.StatusNotFound || !strings.Contains(string(rp.body), "not available") {
		t.Fatalf("%d %s", rp.code, rp.body)
	}
}

// FuzzParseListQuery: any query string is accepted or refused with a client
// error; what is accepted is in range and its cursor round-trips.
func FuzzParseListQuery(f *testing.F) {
	c := engine.ListCursor{At: time.Unix(1700000000, 5), ID: "abc"}.String()
	for _, s := range []string{"", "status=FAILED&limit=50", "status=in_queue,COMPLETED&cursor=" + c, "limit=0", "limit=-1",
		"cursor=%%", "status=", "status=FAILED&status=FAILED", "limit=500&limit=1", "cursor=YzEuLTEuYQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(q)
		if err != nil {
			if re := (*requestError)(nil); !errors.As(err, &re) || re.code != http.StatusBadRequest {
				t.Fatalf("%q: error is not a 400: %v", raw, err)
			}
			return
		}
		if lq.Limit < 0 || lq.Limit > engine.MaxListLimit || (q.Has("limit") && lq.Limit == 0) {
			t.Fatalf("%q: limit %d", raw, lq.Limit)
		}
		for _, s := range lq.Statuses {
			if !slices.Contains(engine.ListStatuses, s) {
				t.Fatalf("%q: status %q", raw, s)
			}
		}
		if lq.After != nil {
			again, err := engine.ParseListCursor(lq.After.String())
			if err != nil || !again.At.Equal(lq.After.At) || again.ID != lq.After.ID {
				t.Fatalf("%q: cursor does not round-trip: %v", raw, err)
			}
		}
	})
}
