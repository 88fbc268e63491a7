package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// postTranscript renders done/stream posts, one per line, for golden files.
func postTranscript(reqs []fpRequest) []byte {
	var b strings.Builder
	for _, r := range reqs {
		if r.kind() == "done" || r.kind() == "stream" {
			b.WriteString(r.String() + "\n")
		}
	}
	return []byte(b.String())
}

func TestWorkerWireFormat(t *testing.T) {
	fp := newFakePlatform(t)
	var got struct {
		sync.Mutex
		id, input, batch string
	}
	w := startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		got.Lock()
		defer got.Unlock()
		got.id, got.input = job.ID, string(job.Input)
		raw, _ := job.Field("batchId")
		got.batch = string(raw)
		return map[string]any{"ok": true, "text": "<é>"}, nil
	}})
	fp.jobs <- `{"id":"r1","input":{"n":1},"batchId":"b7"}`
	posts := fp.waitPosts(t, "r1", 1)

	take := fp.requests("take")[0]
	if take.Path != "/v2/ep/job-take/pod-1" || take.RawQuery != "gpu=x&job_in_progress=0" {
		t.Errorf("take URL = %s?%s", take.Path, take.RawQuery)
	}
	checkHeaders(t, take, map[string]string{"Authorization": "raw-key", "Content-Type": "application/json"})
	done := posts[0]
	if done.Path != "/v2/ep/job-done/pod-1/r1" || done.RawQuery != "gpu=x&isStream=false" {
		t.Errorf("done URL = %s?%s", done.Path, done.RawQuery)
	}
	checkHeaders(t, done, map[string]string{
		"Authorization": "raw-key", "Content-Type": "application/x-www-form-urlencoded",
		"Charset": "utf-8", "X-Request-Id": "r1",
	})
	testutil.GoldenText(t, "worker_wire", postTranscript(posts))
	got.Lock()
	if got.id != "r1" || got.input != `{"n":1}` || got.batch != `"b7"` {
		t.Errorf("handler saw id %q input %s batchId %s", got.id, got.input, got.batch)
	}
	got.Unlock()
	// The take loop goes on: a second job is taken and answered.
	fp.jobs <- `{"id":"r2","input":null}`
	fp.waitPosts(t, "r2", 1)
	if !strings.Contains(w.logs.String(), "INFO   | r1 | [batchId=b7] Finished.") {
		t.Errorf("log lacks the job's Finished line:\n%s", w.logs.String())
	}
}

func checkHeaders(t *testing.T, r fpRequest, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "sluice-serverless-go/"+Version+" ") {
		t.Errorf("%s %s: User-Agent %q does not name the SDK", r.Method, r.Path, ua)
	}
}

func TestWorkerPanicDoesNotKillWorker(t *testing.T) {
	fp := newFakePlatform(t)
	startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		if job.ID == "p1" {
			panic("handler exploded")
		}
		if job.ID == "e1" {
			return nil, fmt.Errorf("wrapped: %w", errors.ErrUnsupported)
		}
		return "fine", nil
	}})
	fp.jobs <- `{"id":"p1","input":1}`
	fp.jobs <- `{"id":"e1","input":1}`
	fp.jobs <- `{"id":"p2","input":2}`
	for id, wantType := range map[string]string{"p1": "panic", "e1": "*errors.errorString"} {
		post := fp.waitPosts(t, id, 1)[0]
		var body struct{ Error string }
		if err := json.Unmarshal([]byte(post.Body), &body); err != nil {
			t.Fatal(err)
		}
		var p errorPayload
		if err := json.Unmarshal([]byte(body.Error), &p); err != nil {
			t.Fatalf("%s: error is not a payload: %s", id, post.Body)
		}
		if p.ErrorType != wantType || p.Hostname != "host-1" || p.WorkerID != "pod-1" || p.RunpodVersion != Version || !strings.Contains(p.ErrorTraceback, "goroutine") {
			t.Errorf("%s: payload %+v", id, p)
		}
	}
	if post := fp.waitPosts(t, "p2", 1)[0]; post.Body != `{"output":"fine"}` {
		t.Errorf("job after the panic: body %s", post.Body)
	}
}

func TestWorkerStreaming(t *testing.T) {
	fp := newFakePlatform(t)
	startWorker(t, fp, Config{ReturnAggregateStream: true, StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for _, v := range []any{"a", "b", map[string]int{"c": 1}} {
				if !yield(v, nil) {
					return
				}
			}
			if job.ID == "bad" {
				yield(nil, errors.New("model fell over"))
				yield("never", nil) // ignores yield's false: Go panics, the error must stand
			}
		}
	}})
	fp.jobs <- `{"id":"s1","input":{}}`
	posts := fp.waitPosts(t, "s1", 4)
	testutil.GoldenText(t, "worker_stream", postTranscript(posts))
	fp.jobs <- `{"id":"bad","input":{}}`
	posts = fp.waitPosts(t, "bad", 4)
	last := posts[3]
	if last.kind() != "done" || last.RawQuery != "gpu=x&isStream=true" || !strings.HasPrefix(last.Body, `{"error":"handler: model fell over \ntraceback: goroutine`) {
		t.Errorf("final post of the failing stream: %s", last)
	}
	if len(fp.waitPosts(t, "bad", 4)) != 4 {
		t.Errorf("a chunk was posted after the yielded error")
	}
}

func TestWorkerProgressBeforeResult(t *testing.T) {
	fp := newFakePlatform(t)
	startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		for i := 1; i <= 3; i++ {
			if err := ProgressUpdate(ctx, job, map[string]any{"step": i, "of": 3}); err != nil {
				return nil, err
			}
		}
		return "done", nil
	}})
	fp.jobs <- `{"id":"pr","input":{}}`
	posts := fp.waitPosts(t, "pr", 4)
	testutil.GoldenText(t, "worker_progress", postTranscript(posts))
}

func TestWorkerConcurrencyAndHeartbeat(t *testing.T) {
	fp := newFakePlatform(t)
	var (
		mu       sync.Mutex
		asked    []int
		started  = make(chan string, 3)
		release  = make(chan struct{})
		released sync.Once
	)
	defer released.Do(func() { close(release) })
	startWorker(t, fp, Config{
		ConcurrencyModifier: func(current int) int {
			mu.Lock()
			asked = append(asked, current)
			mu.Unlock()
			return 3
		},
		Handler: func(ctx context.Context, job *Job) (any, error) {
			started <- job.ID
			<-release
			return job.ID, nil
		},
	})
	fp.jobs <- `{"id":"c1","input":1}`
	fp.jobs <- `{"id":"c2","input":2}`
	// The first take asks for 3 jobs on the batch URL and gets 2.
	fp.waitFor(t, "a take with one job in progress", func(reqs []fpRequest) bool {
		for _, r := range reqs {
			if r.kind() == "take" && r.RawQuery == "gpu=x&job_in_progress=1" {
				return true
			}
		}
		return false
	})
	first := fp.requests("take", "take-batch")[0]
	if first.Path != "/v2/ep/job-take-batch/pod-1" || first.RawQuery != "gpu=x&batch_size=3&job_in_progress=0" {
		t.Errorf("first take = %s?%s", first.Path, first.RawQuery)
	}
	fp.jobs <- `{"id":"c3","input":3}`
	// All three handlers block at once: neither they nor the take loop wait
	// for each other.
	timeout := time.After(waitTimeout)
	seen := map[string]bool{}
	for len(seen) < 3 {
		select {
		case id := <-started:
			seen[id] = true
		case <-timeout:
			t.Fatalf("only %v started; the handlers did not run concurrently", seen)
		}
	}
	// The heartbeat reports the in-progress ids while the handlers block.
	fp.waitFor(t, "a ping naming c1,c2,c3", func(reqs []fpRequest) bool {
		for _, r := range reqs {
			if r.kind() == "ping" && r.RawQuery == "job_id=c1%2Cc2%2Cc3&runpod_version="+url.QueryEscape(Version) {
				return true
			}
		}
		return false
	})
	released.Do(func() { close(release) })
	for _, id := range []string{"c1", "c2", "c3"} {
		if post := fp.waitPosts(t, id, 1)[0]; post.Body != fmt.Sprintf(`{"output":%q}`, id) {
			t.Errorf("%s: body %s", id, post.Body)
		}
	}
	start := len(fp.requests())
	fp.waitFor(t, "an idle ping", func(reqs []fpRequest) bool {
		for _, r := range reqs[start:] {
			if r.kind() == "ping" && r.RawQuery == "runpod_version="+url.QueryEscape(Version) {
				checkHeaders(t, r, map[string]string{"Authorization": "raw-key"})
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 3 || asked[0] != 1 || asked[1] != 3 {
		t.Errorf("ConcurrencyModifier was asked %v; want 1 first, then the previous answer, on every loop", asked)
	}
}

func TestWorkerJobStopCancelsWithoutResult(t *testing.T) {
	fp := newFakePlatform(t)
	started := make(chan struct{}, 1)
	ctxErr := make(chan error, 1)
	startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		if job.ID != "long" {
			return "quick", nil
		}
		started <- struct{}{}
		select {
		case <-ctx.Done():
			ctxErr <- ctx.Err()
			return "cancelled", ctx.Err()
		case <-time.After(waitTimeout):
			ctxErr <- nil
			return "not cancelled", nil
		}
	}})
	fp.jobs <- `{"id":"long","input":1}`
	<-started
	fp.stops <- []string{"long", "not-running"}
	if err := <-ctxErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx error = %v, want context.Canceled", err)
	}
	// With concurrency 1 the next job is taken only once "long" has left
	// the in-progress set, so its job-done would come first.
	fp.jobs <- `{"id":"next","input":2}`
	fp.waitPosts(t, "next", 1)
	for _, r := range fp.requests("done", "stream") {
		if r.jobID() == "long" {
			t.Errorf("a stopped job was posted: %s", r)
		}
	}
	stop := fp.requests("stop")[0]
	if stop.Path != "/v2/ep/job-stop/pod-1" || stop.RawQuery != "gpu=x" {
		t.Errorf("stop poll URL = %s?%s", stop.Path, stop.RawQuery)
	}
}

func TestWorkerTakeBacksOffOn429(t *testing.T) {
	fp := newFakePlatform(t)
	fp.replies <- fpReply{status: 429}
	startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return 1, nil }})
	fp.jobs <- `{"id":"after429","input":1}`
	fp.waitPosts(t, "after429", 1)
	takes := fp.requests("take")
	if gap := takes[1].At.Sub(takes[0].At); gap < tooManyRequestsBackoff {
		t.Errorf("second take %s after the 429, want at least %s", gap, tooManyRequestsBackoff)
	}
}

func TestWorkerTakeResponses(t *testing.T) {
	fp := newFakePlatform(t)
	for _, rep := range []fpReply{
		{status: 204},
		{status: 400, body: "flashboot"},
		{status: 500, body: "oops"},
		{status: 200, contentType: "text/plain", body: `{"id":"textplain","input":1}`},
		{status: 200, contentType: "application/json"},
		{status: 200, contentType: "application/json", body: "null"},
		{status: 200, contentType: "application/json", body: `"job"`},
		{status: 200, contentType: "application/json", body: `42`},
		{status: 200, contentType: "application/json", body: `{"id":"no-input"}`},
		{status: 200, contentType: "application/json", body: `{"id":`},
		{status: 200, contentType: "application/json", body: `[]`},
		{status: 200, contentType: "application/json; charset=utf-8", body: `[{"id":"a1","input":1},{"input":2},{"id":"a2","input":null}]`},
		{status: 200, contentType: "application/json", body: `{"id":"o1","input":{"x":1},"extra":true}`},
	} {
		fp.replies <- rep
	}
	var mu sync.Mutex
	var ran []string
	startWorker(t, fp, Config{
		ConcurrencyModifier: func(int) int { return 2 },
		Handler: func(ctx context.Context, job *Job) (any, error) {
			mu.Lock()
			ran = append(ran, job.ID)
			mu.Unlock()
			return nil, nil
		}})
	for _, id := range []string{"a1", "a2", "o1"} {
		fp.waitPosts(t, id, 1)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 3 {
		t.Errorf("jobs run = %v, want a1, a2 and o1 only", ran)
	}
}

func TestWorkerRetriesResultPosts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		arm       func(fp *fakePlatform)
		wantPosts int
	}{
		{"5xx", func(fp *fakePlatform) { fp.failDone.Store(2) }, 3},
		{"connection errors", func(fp *fakePlatform) { fp.dropDone.Store(2) }, 3},
		{"4xx is final", func(fp *fakePlatform) { fp.rejectOne.Store(1) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFakePlatform(t)
			tc.arm(fp)
			startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return job.ID, nil }})
			fp.jobs <- `{"id":"r","input":1}`
			posts := fp.waitPosts(t, "r", tc.wantPosts)
			for _, p := range posts {
				if p.Body != `{"output":"r"}` {
					t.Errorf("post body %s", p.Body)
				}
			}
			// The worker carries on; the post count for "r" is final once
			// the next job is answered.
			fp.jobs <- `{"id":"next","input":1}`
			fp.waitPosts(t, "next", 1)
			if n := len(fp.waitPosts(t, "r", tc.wantPosts)); n != tc.wantPosts {
				t.Errorf("%d posts for r, want %d", n, tc.wantPosts)
			}
		})
	}
}

// TestWorkerShutdownDrainsAndPosts: a shutdown request (SIGTERM) stops
// taking jobs but lets running ones finish with their ctx alive; their
// progress and results are posted before Run returns.
func TestWorkerShutdownDrainsAndPosts(t *testing.T) {
	fp := newFakePlatform(t)
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	w := startWorker(t, fp, Config{
		ConcurrencyModifier: func(int) int { return 2 },
		Handler: func(ctx context.Context, job *Job) (any, error) {
			started <- struct{}{}
			<-release
			// Progress still reaches the platform while the job drains.
			if err := ProgressUpdate(ctx, job, "draining"); err != nil {
				return nil, err
			}
			return fmt.Sprintf("drained, ctx.Err()=%v", ctx.Err()), nil
		}})
	fp.jobs <- `{"id":"d1","input":1}`
	fp.jobs <- `{"id":"d2","input":2}`
	<-started
	<-started
	w.cancel()
	fp.jobs <- `{"id":"late","input":3}` // must not be taken after the shutdown request
	select {
	case code := <-w.done:
		t.Fatalf("Run returned %d while its jobs were still running", code)
	case <-time.After(100 * time.Millisecond): // Run must still be waiting for its two jobs
	}
	close(release)
	if code := w.wait(t); code != 0 {
		t.Fatalf("Run returned %d, want 0", code)
	}
	for _, id := range []string{"d1", "d2"} {
		var bodies []string
		for _, r := range fp.requests("done") {
			if r.jobID() == id {
				bodies = append(bodies, r.Body)
			}
		}
		want := []string{`{"status":"IN_PROGRESS","output":"draining"}`, `{"output":"drained, ctx.Err()=<nil>"}`}
		if fmt.Sprint(bodies) != fmt.Sprint(want) {
			t.Errorf("%s: posts before Run returned %q, want %q", id, bodies, want)
		}
	}
	if len(fp.jobs) != 1 {
		t.Errorf("the worker took a job after the shutdown request")
	}
}

// TestWorkerHardShutdownCancelsJobs: the second signal cancels the running
// jobs' ctx; their results are still posted.
func TestWorkerHardShutdownCancelsJobs(t *testing.T) {
	fp := newFakePlatform(t)
	started := make(chan struct{}, 1)
	w := startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return "stopped: " + ctx.Err().Error(), nil
	}})
	fp.jobs <- `{"id":"h1","input":1}`
	<-started
	w.cancel()
	w.cancelHard()
	if code := w.wait(t); code != 0 {
		t.Fatalf("Run returned %d, want 0", code)
	}
	done := fp.requests("done")
	if len(done) != 1 || done[0].Body != `{"output":"stopped: context canceled"}` {
		t.Errorf("done posts:\n%s", transcript(done))
	}
}

func TestWorkerRefreshWorkerExitsAfterOneJob(t *testing.T) {
	fp := newFakePlatform(t)
	w := startWorker(t, fp, Config{RefreshWorker: true, Handler: func(ctx context.Context, job *Job) (any, error) {
		return map[string]any{"n": 1}, nil
	}})
	fp.jobs <- `{"id":"only","input":1}`
	fp.jobs <- `{"id":"left","input":2}`
	if code := w.wait(t); code != 0 {
		t.Fatalf("Run returned %d, want 0", code)
	}
	done := fp.requests("done")
	if len(done) != 1 || done[0].jobID() != "only" || done[0].Body != `{"output":{"n":1},"stopPod":true}` {
		t.Errorf("done posts:\n%s", transcript(done))
	}
	if len(fp.jobs) != 1 {
		t.Errorf("the worker took another job after refreshing")
	}
}

func TestWorkerUnencodableResultFails(t *testing.T) {
	fp := newFakePlatform(t)
	startWorker(t, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		return map[string]any{"ch": make(chan int)}, nil
	}})
	fp.jobs <- `{"id":"u","input":1}`
	post := fp.waitPosts(t, "u", 1)[0]
	var body struct{ Error string }
	if err := json.Unmarshal([]byte(post.Body), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Error, "result cannot be encoded as JSON") || !strings.Contains(body.Error, "chan int") {
		t.Errorf("body %s", post.Body)
	}
}

func TestWorkerShutdownStillPostsStreamChunks(t *testing.T) {
	fp := newFakePlatform(t)
	started := make(chan struct{}, 1)
	w := startWorker(t, fp, Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			if !yield("before", nil) {
				return
			}
			started <- struct{}{}
			<-ctx.Done()
			yield("after "+ctx.Err().Error(), nil)
		}
	}})
	fp.jobs <- `{"id":"st","input":1}`
	<-started
	w.cancel()
	w.cancelHard() // the second signal: the stream's ctx ends, its chunks still go out
	if code := w.wait(t); code != 0 {
		t.Fatalf("Run returned %d, want 0", code)
	}
	testutil.GoldenText(t, "worker_stream_shutdown", postTranscript(fp.requests("stream", "done")))
}

func TestWorkerRefusesUnusableURLs(t *testing.T) {
	fp := newFakePlatform(t)
	fp.setEnv(t)
	t.Setenv("RUNPOD_WEBHOOK_POST_OUTPUT", "JOB_DONE_URL")
	var logs testutil.Buffer
	code := Run(context.Background(), Config{Args: []string{}, Logger: slog.New(newLogHandler(&logs, slog.LevelDebug, false)),
		Handler: func(ctx context.Context, job *Job) (any, error) { return nil, nil }})
	if code != 1 || !strings.Contains(logs.String(), `RUNPOD_WEBHOOK_POST_OUTPUT is not an http(s) URL: "JOB_DONE_URL"`) {
		t.Errorf("exit %d, log:\n%s", code, logs.String())
	}
	if n := len(fp.requests()); n != 0 {
		t.Errorf("the worker made %d requests with an unusable result URL", n)
	}
}
