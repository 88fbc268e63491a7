package serverless

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// waitTimeout bounds every wait for a condition in the worker tests.
const waitTimeout = 15 * time.Second

// fpRequest is one request the fake platform received.
type fpRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     string
	At       time.Time
}

// kind is the worker-protocol route of the request: take, take-batch,
// stop, done, stream or ping.
func (r fpRequest) kind() string {
	parts := strings.Split(strings.TrimPrefix(r.Path, "/v2/ep/"), "/")
	return strings.TrimPrefix(parts[0], "job-")
}

// jobID is the job id of a done or stream post.
func (r fpRequest) jobID() string {
	parts := strings.Split(r.Path, "/")
	return parts[len(parts)-1]
}

func (r fpRequest) String() string {
	return fmt.Sprintf("%s %s?%s %s", r.Method, r.Path, r.RawQuery, r.Body)
}

// fpReply is a scripted job-take response.
type fpReply struct {
	status      int
	contentType string
	body        string
}

// fakePlatform is a worker-protocol server on 127.0.0.1 that records every
// request. job-take and job-stop long-poll for hold.
type fakePlatform struct {
	srv     *httptest.Server
	hold    time.Duration
	jobs    chan string   // job objects to hand out
	replies chan fpReply  // scripted job-take replies, served before jobs
	stops   chan []string // job-stop answers

	failDone  atomic.Int32 // answer this many more done/stream posts with 500
	dropDone  atomic.Int32 // close the connection of this many more done/stream posts
	rejectOne atomic.Int32 // answer this many more done posts with 404

	mu      sync.Mutex
	reqs    []fpRequest
	changed chan struct{}
}

func newFakePlatform(t testing.TB) *fakePlatform {
	t.Helper()
	fp := &fakePlatform{
		hold:    200 * time.Millisecond,
		jobs:    make(chan string, 100),
		replies: make(chan fpReply, 100),
		stops:   make(chan []string, 10),
		changed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/ep/job-take/{worker}", fp.take)
	mux.HandleFunc("GET /v2/ep/job-take-batch/{worker}", fp.take)
	mux.HandleFunc("GET /v2/ep/job-stop/{worker}", fp.stop)
	mux.HandleFunc("POST /v2/ep/job-done/{worker}/{job}", fp.post)
	mux.HandleFunc("POST /v2/ep/job-stream/{worker}/{job}", fp.post)
	mux.HandleFunc("GET /v2/ep/ping/{worker}", func(w http.ResponseWriter, r *http.Request) {
		fp.record(r, "")
	})
	fp.srv = httptest.NewServer(mux)
	t.Cleanup(fp.srv.Close)
	return fp
}

// setEnv points the worker environment at the fake platform.
func (fp *fakePlatform) setEnv(t testing.TB) {
	t.Helper()
	base := fp.srv.URL + "/v2/ep/"
	for k, v := range map[string]string{
		"RUNPOD_WEBHOOK_GET_JOB":     base + "job-take/$ID?gpu=x",
		"RUNPOD_WEBHOOK_POST_OUTPUT": base + "job-done/$RUNPOD_POD_ID/$ID?gpu=x",
		"RUNPOD_WEBHOOK_POST_STREAM": base + "job-stream/$RUNPOD_POD_ID/$ID?gpu=x",
		"RUNPOD_WEBHOOK_PING":        base + "ping/$RUNPOD_POD_ID",
		"RUNPOD_PING_INTERVAL":       "50",
		"RUNPOD_AI_API_KEY":          "raw-key",
		"RUNPOD_POD_ID":              "pod-1",
		"RUNPOD_POD_HOSTNAME":        "host-1",
		"RUNPOD_ENDPOINT_ID":         "",
	} {
		t.Setenv(k, v)
	}
}

func (fp *fakePlatform) record(r *http.Request, body string) fpRequest {
	req := fpRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: time.Now()}
	fp.mu.Lock()
	fp.reqs = append(fp.reqs, req)
	close(fp.changed)
	fp.changed = make(chan struct{})
	fp.mu.Unlock()
	return req
}

func (fp *fakePlatform) take(w http.ResponseWriter, r *http.Request) {
	fp.record(r, "")
	select {
	case rep := <-fp.replies:
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
		return
	default:
	}
	timer := time.NewTimer(fp.hold)
	defer timer.Stop()
	select {
	case job := <-fp.jobs:
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("batch_size") == "" {
			_, _ = io.WriteString(w, job)
			return
		}
		batch := []string{job}
		n := 0
		_, _ = fmt.Sscan(r.URL.Query().Get("batch_size"), &n)
	more:
		for len(batch) < n {
			select {
			case j := <-fp.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		_, _ = io.WriteString(w, "["+strings.Join(batch, ",")+"]")
	case <-timer.C:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

func (fp *fakePlatform) stop(w http.ResponseWriter, r *http.Request) {
	fp.record(r, "")
	timer := time.NewTimer(fp.hold)
	defer timer.Stop()
	select {
	case ids := <-fp.stops:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jobsToStop": [%s]}`, quoteAll(ids))
	case <-timer.C:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ",")
}

func (fp *fakePlatform) post(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fp.record(r, string(body))
	switch {
	case fp.dropDone.Add(-1) >= 0:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case fp.failDone.Add(-1) >= 0:
		http.Error(w, "try again", http.StatusInternalServerError)
	case fp.rejectOne.Add(-1) >= 0:
		http.Error(w, "no such job", http.StatusNotFound)
	default:
		_, _ = io.WriteString(w, "ok")
	}
}

// requests returns the recorded requests of the given kinds (all when none).
func (fp *fakePlatform) requests(kinds ...string) []fpRequest {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	var out []fpRequest
	for _, r := range fp.reqs {
		if len(kinds) == 0 || contains(kinds, r.kind()) {
			out = append(out, r)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitFor waits until cond holds on the recorded requests.
func (fp *fakePlatform) waitFor(t testing.TB, what string, cond func(reqs []fpRequest) bool) []fpRequest {
	t.Helper()
	return fp.waitForWithin(t, waitTimeout, what, cond)
}

// waitForWithin is waitFor with its own time limit.
func (fp *fakePlatform) waitForWithin(t testing.TB, limit time.Duration, what string, cond func(reqs []fpRequest) bool) []fpRequest {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		fp.mu.Lock()
		reqs := append([]fpRequest(nil), fp.reqs...)
		changed := fp.changed
		fp.mu.Unlock()
		if cond(reqs) {
			return reqs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; requests:\n%s", what, transcript(reqs))
		}
	}
}

// waitPosts waits for n done/stream posts about job id and returns them.
func (fp *fakePlatform) waitPosts(t testing.TB, id string, n int) []fpRequest {
	t.Helper()
	var posts []fpRequest
	fp.waitFor(t, fmt.Sprintf("%d posts for job %s", n, id), func(reqs []fpRequest) bool {
		posts = posts[:0]
		for _, r := range reqs {
			if (r.kind() == "done" || r.kind() == "stream") && r.jobID() == id {
				posts = append(posts, r)
			}
		}
		return len(posts) >= n
	})
	return posts
}

func transcript(reqs []fpRequest) string {
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// runningWorker is a worker started with Run against a fake platform.
type runningWorker struct {
	cancel     context.CancelFunc // graceful shutdown (SIGTERM)
	cancelHard context.CancelFunc // cancels running jobs (second signal)
	done       chan int
	logs       *testutil.Buffer
	once       sync.Once
	code       int
}

// startWorker runs cfg in the background as Start would (cancel is the
// first signal, cancelHard the second), with fast timings.
// The worker is stopped, and must have stopped, when the test ends.
func startWorker(t testing.TB, fp *fakePlatform, cfg Config) *runningWorker {
	t.Helper()
	fastTimings(t)
	fp.setEnv(t)
	w := &runningWorker{done: make(chan int, 1), logs: &testutil.Buffer{}}
	oldStdout := stdout
	stdout = w.logs // the banner
	t.Cleanup(func() { stdout = oldStdout })
	cfg.Args = []string{}
	cfg.Logger = slog.New(newLogHandler(w.logs, LevelTrace, false))
	ctx, cancel := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	w.cancel, w.cancelHard = cancel, cancelHard
	go func() { w.done <- run(ctx, hard, cfg) }()
	t.Cleanup(func() {
		cancel()
		cancelHard() // handlers still waiting on their ctx end too
		w.wait(t)
		if t.Failed() {
			t.Logf("worker log:\n%s", w.logs.String())
		}
	})
	return w
}

// wait waits for Run to return and gives its exit code.
func (w *runningWorker) wait(t testing.TB) int {
	t.Helper()
	w.once.Do(func() {
		select {
		case w.code = <-w.done:
		case <-time.After(waitTimeout):
			t.Fatalf("worker did not stop; log:\n%s", w.logs.String())
		}
	})
	return w.code
}

// fastTimings shortens the worker's pauses for the test.
func fastTimings(t testing.TB) {
	t.Helper()
	set := func(p *time.Duration, d time.Duration) {
		old := *p
		*p = d
		t.Cleanup(func() { *p = old })
	}
	set(&tooManyRequestsBackoff, 300*time.Millisecond)
	set(&takeErrorPause, 10*time.Millisecond)
	set(&stopPollPause, 10*time.Millisecond)
	set(&concurrencyRecheck, 20*time.Millisecond)
	set(&postBackoffMin, 10*time.Millisecond)
	set(&postBackoffMax, 40*time.Millisecond)
	set(&postRetryFor, 10*time.Second)
	set(&progressRetryFor, 10*time.Second)
	set(&pingBackoff, 10*time.Millisecond)
}
