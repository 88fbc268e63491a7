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

func TestWaitLongPollsStatusSync(t *testing.T) {
	t.Parallel()
	answers := []string{
		`{"id":"j","status":"IN_QUEUE"}`,
		`{"id":"j","status":"IN_PROGRESS","delayTime":5,"output":{"progress":50}}`,
		`{"id":"j","status":"COMPLETED","delayTime":5,"executionTime":70,"output":{"text":"done"}}`,
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, answers[min(n, len(answers)-1)])
	})
	var updates []string
	st, err := f.client(client.WithLongPoll(3*time.Second)).Endpoint("e").Wait(context.Background(), "j",
		client.OnUpdate(func(s *client.JobStatus) { updates = append(updates, string(s.Status)+" "+string(s.Output)) }))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.StatusCompleted || string(st.Output) != `{"text":"done"}` || st.ExecutionTime != 70 {
		t.Errorf("final %+v", st)
	}
	want := []string{"IN_QUEUE ", `IN_PROGRESS {"progress":50}`, `COMPLETED {"text":"done"}`}
	if strings.Join(updates, "|") != strings.Join(want, "|") {
		t.Errorf("updates %q, want %q", updates, want)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.Method != "GET" || r.Path != "/v2/e/status-sync/j" || r.Query != "wait=3000" {
			t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}

func TestWaitFallsBackToStatusPolling(t *testing.T) {
	t.Parallel()
	polls := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.Contains(r.URL.Path, "/status-sync/") {
			http.NotFound(w, r) // a server without the route
			return
		}
		polls++
		if polls < 4 {
			reply(w, 200, `{"id":"j","status":"IN_PROGRESS"}`)
			return
		}
		reply(w, 200, `{"id":"j","status":"FAILED","error":"boom"}`)
	})
	ep := f.client().Endpoint("e")
	st, err := ep.Wait(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.StatusFailed || st.Err() == nil || st.Error != "boom" {
		t.Errorf("final %+v", st)
	}
	syncCalls := 0
	for _, r := range f.requests() {
		if strings.Contains(r.Path, "/status-sync/") {
			syncCalls++
		}
	}
	if syncCalls != 1 || polls != 4 {
		t.Errorf("status-sync calls %d (want 1), status polls %d (want 4)", syncCalls, polls)
	}
	// The endpoint remembers: a second Wait goes straight to /status.
	before := len(f.requests())
	if _, err := ep.Wait(context.Background(), "j"); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.requests()[before:] {
		if strings.Contains(r.Path, "/status-sync/") {
			t.Errorf("second Wait called %s", r.Path)
		}
	}
}

func TestWaitNotFound(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 404, `{"error":"job j not found"}`)
	})
	_, err := f.client().Endpoint("e").Wait(context.Background(), "j")
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if want := "wait job j: not found (404): job j not found"; err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
}

func TestWaitHonoursContextDuringLongPoll(t *testing.T) {
	t.Parallel()
	held := make(chan struct{}, 1)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		held <- struct{}{}
		<-r.Context().Done() // hold the long poll until the client gives up
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.client().Endpoint("e").Wait(ctx, "j")
		done <- err
	}()
	<-held
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after its context was cancelled")
	}
}

func TestWaitHonoursContextBetweenPolls(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"id":"j","status":"IN_QUEUE"}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seenUpdates := 0
	_, err := f.client(client.WithPollInterval(time.Hour, time.Hour)).Endpoint("e").Wait(ctx, "j",
		client.OnUpdate(func(*client.JobStatus) { seenUpdates++; cancel() }))
	if !errors.Is(err, context.Canceled) || seenUpdates != 1 {
		t.Errorf("err = %v after %d updates; want context.Canceled after 1", err, seenUpdates)
	}
}

func TestRunSyncFallsBackToWait(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/v2/e/runsync":
			reply(w, 200, `{"id":"sync-1","status":"IN_PROGRESS"}`)
		case "/v2/e/status-sync/sync-1":
			reply(w, 200, `{"id":"sync-1","status":"COMPLETED","output":42}`)
		default:
			reply(w, 404, `{"error":"unexpected"}`)
		}
	})
	var statuses []client.Status
	st, err := f.client().Endpoint("e").RunSync(context.Background(), map[string]string{"q": "x"},
		client.WithSyncWait(2*time.Second), client.OnUpdate(func(s *client.JobStatus) { statuses = append(statuses, s.Status) }))
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if err := st.Decode(&out); err != nil || out != 42 {
		t.Errorf("output %d (%v)", out, err)
	}
	if len(statuses) != 2 || statuses[0] != client.StatusInProgress || statuses[1] != client.StatusCompleted {
		t.Errorf("updates %v", statuses)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Method != "POST" || reqs[0].Query != "wait=2000" {
		t.Fatalf("requests %+v", reqs)
	}
	testutil.Golden(t, "runsync", reqs[0].Body)
}

func TestRunSyncFailedWith400(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 400, `{"id":"sync-2","status":"FAILED","error":"handler raised"}`)
	})
	st, err := f.client().Endpoint("e").RunSync(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var je *client.JobError
	if !errors.As(st.Err(), &je) || je.Message != "handler raised" || je.ID != "sync-2" {
		t.Errorf("Err() = %v", st.Err())
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestRunSyncBadRequest(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 400, `{"error":"input is required"}`)
	})
	_, err := f.client().Endpoint("e").RunSync(context.Background(), nil)
	if err == nil || err.Error() != "runsync on e: bad request (400): input is required" {
		t.Errorf("err = %v", err)
	}
}

// streamFake answers /stream with the given bodies in turn.
func streamFake(t *testing.T, bodies ...string) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n >= len(bodies) {
			t.Errorf("request %d after the stream ended: %s", n, r.URL.Path)
			reply(w, 500, `{"error":"too many polls"}`)
			return
		}
		reply(w, 200, bodies[n])
	})
}

func TestStreamOrderingAndTermination(t *testing.T) {
	t.Parallel()
	f := streamFake(t,
		`{"id":"j","status":"IN_QUEUE","stream":[]}`,
		`{"id":"j","status":"IN_PROGRESS","stream":[{"output":"a"},{"output":{"b":2}}]}`,
		`{"id":"j","status":"IN_PROGRESS"}`,
		`{"id":"j","status":"COMPLETED","stream":[{"output":[3]}]}`,
		`{"id":"j","status":"COMPLETED","stream":[]}`,
	)
	var got []string
	for chunk, err := range f.client(client.WithLongPoll(2*time.Second)).Endpoint("e").Stream(context.Background(), "j") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(chunk))
	}
	if want := `"a"|{"b":2}|[3]`; strings.Join(got, "|") != want {
		t.Errorf("chunks %s, want %s", strings.Join(got, "|"), want)
	}
	reqs := f.requests()
	if len(reqs) != 5 {
		t.Errorf("%d polls, want 5", len(reqs))
	}
	for _, r := range reqs {
		if r.Method != "GET" || r.Path != "/v2/e/stream/j" || r.Query != "wait=2000" {
			t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}

func TestStreamEndsOnCancelled(t *testing.T) {
	t.Parallel()
	f := streamFake(t, `{"id":"j","status":"CANCELLED","stream":[]}`)
	n := 0
	for _, err := range f.client().Endpoint("e").Stream(context.Background(), "j") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 || len(f.requests()) != 1 {
		t.Errorf("%d chunks, %d requests", n, len(f.requests()))
	}
}

func TestStreamStopsWhenConsumerBreaks(t *testing.T) {
	t.Parallel()
	f := streamFake(t, `{"id":"j","status":"IN_PROGRESS","stream":[{"output":1},{"output":2}]}`)
	for chunk, err := range f.client().Endpoint("e").Stream(context.Background(), "j") {
		if err != nil || string(chunk) != "1" {
			t.Fatalf("first chunk %s, %v", chunk, err)
		}
		break
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests after break, want 1", n)
	}
}

func TestStreamYieldsErrorOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 404, `{"error":"no such job"}`)
	})
	var errs []error
	for chunk, err := range f.client().Endpoint("e").Stream(context.Background(), "j") {
		if chunk != nil {
			t.Errorf("chunk %s with error", chunk)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrNotFound) {
		t.Errorf("errors %v", errs)
	}
}

func TestStreamHonoursContext(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"id":"j","status":"IN_PROGRESS","stream":[{"output":"tick"}]}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for chunk, err := range f.client().Endpoint("e").Stream(ctx, "j") {
		if err != nil {
			last = err
			continue
		}
		if json.Valid(chunk) {
			n++
		}
		if n == 3 {
			cancel()
		}
		if n > 1000 {
			t.Fatal("stream ignored its context")
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("last error %v, want context.Canceled", last)
	}
}

// TestRunSyncOnAccepted: the job id from the X-Request-Id header reaches
// OnAccepted before the held /runsync answers, so a caller whose context
// ends first still has it.
func TestRunSyncOnAccepted(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-Request-Id", "sync-held")
		w.WriteHeader(200)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var id string
	_, err := f.client().Endpoint("e").RunSync(ctx, nil, client.OnAccepted(func(s string) { id = s }))
	if !errors.Is(err, context.DeadlineExceeded) || id != "sync-held" {
		t.Errorf("err %v, accepted id %q; want a deadline error and sync-held", err, id)
	}
}
