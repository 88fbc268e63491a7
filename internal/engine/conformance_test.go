package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEmbedded runs the conformance suite against the embedded engine, each
// test on a fresh data directory.
func TestEmbedded(t *testing.T) {
	runConformance(t, embeddedBackend)
}

// TestCluster runs the conformance suite against a 3-node JetStream cluster
// (default 1 MB max_payload) started on 127.0.0.1.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster suite skipped in -short mode")
	}
	url := startCluster(t)
	runConformance(t, func(*testing.T) *backend { return clusterBackend(url) })
}

type conformanceCase struct {
	name string
	fn   func(t *testing.T, b *backend)
}

// runConformance is the engine's promise suite; mk gives each case a backend.
func runConformance(t *testing.T, mk func(t *testing.T) *backend) {
	cases := []conformanceCase{
		{"SubmitTakeFinish", testSubmitTakeFinish},
		{"TakeLongPoll", testTakeLongPoll},
		{"Priority", testPriority},
		{"CancelQueued", testCancelQueued},
		{"CancelInProgress", testCancelInProgress},
		{"Retry", testRetry},
		{"Release", testRelease},
		{"Purge", testPurge},
		{"ExecutionTimeout", testExecutionTimeout},
		{"WorkerLost", testWorkerLost},
		{"PingKeepsJob", testPingKeepsJob},
		{"TTLExpiry", testTTLExpiry},
		{"Retention", testRetention},
		{"StorageFlat", testStorageFlat},
		{"OutputTooLarge", testOutputTooLarge},
		{"ErrorResult", testErrorResult},
		{"Progress", testProgress},
		{"Stream", testStream},
		{"LargePayloads", testLargePayloads},
		{"HealthAndWorkers", testHealthAndWorkers},
		{"Webhook", testWebhook},
		{"BadInput", testBadInput},
		{"ConcurrentWorkers", testConcurrentWorkers},
		{"ConsumerRecreated", testConsumerRecreated},
		{"TwoReplicas", testTwoReplicas},
		{"Restart", testRestart},
		{"Idempotency", testIdempotency},
		{"Listing", testListing},
		{"ListingExpiry", testListingExpiry},
		{"ListingReplicas", testListingReplicas},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, mk(t)) })
	}
}

// setup opens one engine with fast settings and one endpoint.
func setup(t *testing.T, b *backend, tweak ...func(*Config)) (*Engine, string) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	for _, f := range tweak {
		f(&cfg)
	}
	return b.open(t, cfg), ep
}

func submit(t *testing.T, e *Engine, ep string, input string, tweak ...func(*SubmitRequest)) *Job {
	t.Helper()
	req := SubmitRequest{Input: json.RawMessage(input)}
	for _, f := range tweak {
		f(&req)
	}
	j, err := e.Submit(ctxT(t, 30*time.Second), ep, req)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return j
}

// takeOne takes exactly one job within 10 s.
func takeOne(t *testing.T, e *Engine, ep, worker string) *Job {
	t.Helper()
	jobs, err := e.Take(ctxT(t, 10*time.Second), ep, worker, 1)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	if len(jobs) != 1 {
		t.Fatalf("take: got %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

// takeNone checks that nothing is handed out within d.
func takeNone(t *testing.T, e *Engine, ep, worker string, d time.Duration) {
	t.Helper()
	jobs, err := e.Take(ctxT(t, d), ep, worker, 10)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("take: got %d jobs, err %v; want none", len(jobs), err)
	}
}

func status(t *testing.T, e *Engine, ep, id string) Status {
	t.Helper()
	j, err := e.Get(ctxT(t, 10*time.Second), ep, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j.Status
}

func waitStatus(t *testing.T, e *Engine, ep, id string, want Status) *Job {
	t.Helper()
	var j *Job
	waitFor(t, 20*time.Second, fmt.Sprintf("job %s to be %s", id, want), func() bool {
		var err error
		j, err = e.Get(ctxT(t, 10*time.Second), ep, id)
		return err == nil && j.Status == want
	})
	return j
}

func testSubmitTakeFinish(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `{"n":1}`)
	if j.Status != StatusInQueue || len(j.ID) != 36 {
		t.Fatalf("submitted job: %+v", j)
	}
	sj := submit(t, e, ep, `{"n":2}`, func(r *SubmitRequest) { r.Sync = true })
	if !strings.HasPrefix(sj.ID, "sync-") {
		t.Fatalf("sync job id %q lacks the sync- prefix", sj.ID)
	}
	if got := status(t, e, ep, j.ID); got != StatusInQueue {
		t.Fatalf("status %s, want IN_QUEUE", got)
	}
	tj := takeOne(t, e, ep, "w1")
	if tj.ID != j.ID || string(tj.Input) != `{"n":1}` || tj.Status != StatusInProgress || tj.WorkerID != "w1" {
		t.Fatalf("taken job: %+v", tj)
	}
	if got := status(t, e, ep, j.ID); got != StatusInProgress {
		t.Fatalf("status %s, want IN_PROGRESS", got)
	}
	// Wait in the background while the worker finishes.
	done := make(chan *Job, 1)
	go func() {
		wj, err := e.Wait(ctx, ep, j.ID)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		done <- wj
	}()
	mustErr(t, e.Finish(ctx, ep, "w2", j.ID, Result{Output: json.RawMessage(`1`)}), ErrNotOwner, "finish by a non-owner")
	if err := e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`{"ok":true}`)}); err != nil {
		t.Fatalf("finish: %v", err)
	}
	wj := <-done
	if wj == nil || wj.Status != StatusCompleted || string(wj.Output) != `{"ok":true}` {
		t.Fatalf("waited job: %+v", wj)
	}
	if wj.StartedAt.IsZero() || wj.FinishedAt.IsZero() || wj.DelayTime() < 0 || wj.ExecutionTime() < 0 {
		t.Fatalf("times not set: %+v", wj)
	}
	// Terminal states are sticky.
	mustErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`2`)}), ErrNotOwner, "second finish")
	mustErr(t, e.Progress(ctx, ep, "w1", j.ID, json.RawMessage(`"late"`)), ErrNotOwner, "late progress")
	mustErr(t, e.AppendStream(ctx, ep, "w1", j.ID, json.RawMessage(`"late"`)), ErrNotOwner, "late stream")
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusCompleted || string(g.Output) != `{"ok":true}` {
		t.Fatalf("job changed after terminal: %+v", g)
	}
	mustErr(t, func() error { _, err := e.Cancel(ctx, ep, j.ID); return err }(), ErrConflict, "cancel completed")
	mustErr(t, func() error { _, err := e.Retry(ctx, ep, j.ID); return err }(), ErrConflict, "retry completed")
	// Wait with a short deadline on a non-terminal job returns it as it is.
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	cur, err := e.Wait(wctx, ep, sj.ID)
	if err != nil || cur.Status != StatusInQueue {
		t.Fatalf("wait with deadline: %+v, %v", cur, err)
	}
}

func testTakeLongPoll(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	takeNone(t, e, ep, "w1", 150*time.Millisecond)
	got := make(chan []*Job, 1)
	parked := make(chan struct{})
	go func() {
		close(parked)
		jobs, err := e.Take(ctxT(t, 20*time.Second), ep, "w1", 1)
		if err != nil {
			t.Errorf("take: %v", err)
		}
		got <- jobs
	}()
	<-parked
	j := submit(t, e, ep, `"x"`)
	jobs := <-got
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("long poll got %v, want job %s", jobs, j.ID)
	}
	// Batch take: up to max jobs.
	for i := range 3 {
		submit(t, e, ep, fmt.Sprint(i))
	}
	var n int
	waitFor(t, 10*time.Second, "3 jobs taken in batches", func() bool {
		jobs, err := e.Take(ctxT(t, 5*time.Second), ep, "w2", 2)
		if err != nil || len(jobs) > 2 {
			t.Fatalf("batch take: %d jobs, %v", len(jobs), err)
		}
		n += len(jobs)
		return n == 3
	})
}

func testPriority(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	low := submit(t, e, ep, `"low"`, func(r *SubmitRequest) { r.Policy.LowPriority = true })
	n1 := submit(t, e, ep, `"n1"`)
	n2 := submit(t, e, ep, `"n2"`)
	qs := must(e.QueueStats(ctxT(t, 5*time.Second), ep))
	if qs.Queued != 2 || qs.QueuedLow != 1 {
		t.Fatalf("queue stats %+v, want 2 normal and 1 low", qs)
	}
	var order []string
	for range 3 {
		order = append(order, takeOne(t, e, ep, "w").ID)
	}
	if order[0] != n1.ID || order[1] != n2.ID || order[2] != low.ID {
		t.Fatalf("take order %v, want %s %s %s", order, n1.ID, n2.ID, low.ID)
	}
}

func testCancelQueued(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	c, err := e.Cancel(ctx, ep, j.ID)
	if err != nil || c.Status != StatusCancelled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	takeNone(t, e, ep, "w", 200*time.Millisecond)
	if qs := must(e.QueueStats(ctx, ep)); qs.Queued != 0 {
		t.Fatalf("queue stats after cancel: %+v", qs)
	}
	_, err = e.Cancel(ctx, ep, j.ID)
	mustErr(t, err, ErrConflict, "second cancel")
	_, err = e.Retry(ctx, ep, j.ID)
	mustErr(t, err, ErrConflict, "retry cancelled")
}

func testCancelInProgress(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	stops := make(chan []string, 1)
	go func() {
		ids, err := e.StopSignals(ctx, ep, "w1")
		if err != nil {
			t.Errorf("stop signals: %v", err)
		}
		stops <- ids
	}()
	if _, err := e.Cancel(ctx, ep, j.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if ids := <-stops; len(ids) != 1 || ids[0] != j.ID {
		t.Fatalf("stop signals %v, want [%s]", ids, j.ID)
	}
	// Each signal is delivered once.
	if ids, err := e.StopSignals(ctxT(t, 100*time.Millisecond), ep, "w1"); err != nil || len(ids) != 0 {
		t.Fatalf("second stop poll: %v, %v", ids, err)
	}
	mustErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`1`)}), ErrNotOwner, "finish after cancel")
	if s := status(t, e, ep, j.ID); s != StatusCancelled {
		t.Fatalf("status %s, want CANCELLED", s)
	}
}

func testRetry(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `{"a":1}`)
	takeOne(t, e, ep, "w1")
	mustErr(t, func() error { _, err := e.Retry(ctx, ep, j.ID); return err }(), ErrConflict, "retry in progress")
	if err := e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`"partial"`), Error: json.RawMessage(`"boom"`)}); err != nil {
		t.Fatal(err)
	}
	if s := status(t, e, ep, j.ID); s != StatusFailed {
		t.Fatalf("status %s, want FAILED", s)
	}
	r, err := e.Retry(ctx, ep, j.ID)
	if err != nil || r.Status != StatusInQueue || r.ID != j.ID || r.Output != nil || r.Error != nil {
		t.Fatalf("retry: %+v, %v", r, err)
	}
	tj := takeOne(t, e, ep, "w2")
	if tj.ID != j.ID || string(tj.Input) != `{"a":1}` {
		t.Fatalf("retried job taken: %+v", tj)
	}
	noErr(t, e.Finish(ctx, ep, "w2", j.ID, Result{Output: json.RawMessage(`"ok"`)}))
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusCompleted || string(g.Output) != `"ok"` || g.Error != nil {
		t.Fatalf("after retry: %+v", g)
	}
}

func testPurge(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	run := submit(t, e, ep, `0`)
	takeOne(t, e, ep, "w1")
	var queued []*Job
	for i := range 3 {
		queued = append(queued, submit(t, e, ep, fmt.Sprint(i+1)))
	}
	queued = append(queued, submit(t, e, ep, `9`, func(r *SubmitRequest) { r.Policy.LowPriority = true }))
	n, err := e.Purge(ctx, ep)
	if err != nil || n != 4 {
		t.Fatalf("purge: %d, %v; want 4", n, err)
	}
	for _, q := range queued {
		if s := status(t, e, ep, q.ID); s != StatusCancelled {
			t.Fatalf("purged job %s: %s", q.ID, s)
		}
	}
	if s := status(t, e, ep, run.ID); s != StatusInProgress {
		t.Fatalf("running job after purge: %s", s)
	}
	qs := must(e.QueueStats(ctx, ep))
	if qs.Queued != 0 || qs.QueuedLow != 0 || qs.InProgress != 1 {
		t.Fatalf("queue stats after purge: %+v", qs)
	}
	takeNone(t, e, ep, "w2", 200*time.Millisecond)
	noErr(t, e.Finish(ctx, ep, "w1", run.ID, Result{Output: json.RawMessage(`1`)}))
}

func testExecutionTimeout(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`, func(r *SubmitRequest) { r.Policy.ExecutionTimeout = 300 * time.Millisecond })
	takeOne(t, e, ep, "w1")
	// The worker keeps pinging: only the timeout may end the job.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, e, ep, "w1")
	ids, err := e.StopSignals(ctx, ep, "w1")
	if err != nil || len(ids) != 1 || ids[0] != j.ID {
		t.Fatalf("stop signals %v, %v; want [%s]", ids, err, j.ID)
	}
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusTimedOut || !strings.Contains(string(g.Error), "timeout") {
		t.Fatalf("after timeout: %+v", g)
	}
	mustErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`1`)}), ErrNotOwner, "finish after timeout")
	r, err := e.Retry(ctx, ep, j.ID)
	if err != nil || r.Status != StatusInQueue {
		t.Fatalf("retry timed out job: %+v, %v", r, err)
	}
}

func pinger(ctx context.Context, e *Engine, ep, worker string) {
	t := time.NewTicker(e.cfg.PingInterval)
	defer t.Stop()
	for {
		_ = e.Ping(ctx, ep, worker, nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func testWorkerLost(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.MaxRetries = 1; c.WorkerLostAfter = 300 * time.Millisecond })
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `{"x":1}`)
	takeOne(t, e, ep, "w1") // w1 never pings: lost
	r := waitStatus(t, e, ep, j.ID, StatusInQueue)
	if r.Retries != 1 || r.WorkerID != "" {
		t.Fatalf("requeued job: %+v", r)
	}
	h := must(e.Health(ctx, ep))
	if h.Jobs.Retried != 1 {
		t.Fatalf("health retried %d, want 1", h.Jobs.Retried)
	}
	tj := takeOne(t, e, ep, "w2")
	if tj.ID != j.ID || string(tj.Input) != `{"x":1}` || tj.Retries != 1 {
		t.Fatalf("retaken job: %+v", tj)
	}
	// The lost worker's late result is ignored.
	mustErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`"late"`)}), ErrNotOwner, "late finish")
	// w2 is lost too: retries exhausted.
	f := waitStatus(t, e, ep, j.ID, StatusFailed)
	if !strings.Contains(string(f.Error), "worker lost") || f.Retries != 1 {
		t.Fatalf("failed job: %+v", f)
	}
	mustErr(t, e.Finish(ctx, ep, "w2", j.ID, Result{Output: json.RawMessage(`"late"`)}), ErrNotOwner, "late finish 2")
	if ids, err := e.StopSignals(ctx, ep, "w1"); err != nil || len(ids) == 0 || ids[0] != j.ID {
		t.Fatalf("stop signals for the lost worker: %v, %v", ids, err)
	}
}

func testPingKeepsJob(t *testing.T, b *backend) {
	// 1 s: 20 pings (every 50 ms) would have to be late for a false loss,
	// even with the race detector on a loaded machine.
	e, ep := setup(t, b, func(c *Config) { c.WorkerLostAfter = time.Second })
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, e, ep, "w1")
	// For 4 × WorkerLostAfter the job stays with its pinging worker, however
	// many reaper passes run.
	end := time.Now().Add(4 * e.cfg.WorkerLostAfter)
	for time.Now().Before(end) {
		if err := e.reap(ctx); err != nil {
			t.Fatalf("reap: %v", err)
		}
		g := must(e.Get(ctx, ep, j.ID))
		if g.Status != StatusInProgress || g.WorkerID != "w1" || g.Retries != 0 {
			t.Fatalf("pinging worker lost its job: %+v", g)
		}
		ws := must(e.Workers(ctx, ep))
		if len(ws) != 1 || ws[0].ID != "w1" || len(ws[0].Jobs) != 1 || ws[0].Jobs[0] != j.ID {
			t.Fatalf("workers: %+v", ws)
		}
	}
	noErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`1`)}))
}

func testHealthAndWorkers(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.WorkerLostAfter = 5 * time.Second })
	ctx := ctxT(t, 30*time.Second)
	for range 4 {
		submit(t, e, ep, `1`)
	}
	a := takeOne(t, e, ep, "wa")
	bj := takeOne(t, e, ep, "wb")
	noErr(t, e.Finish(ctx, ep, "wa", a.ID, Result{Output: json.RawMessage(`1`)}))
	noErr(t, e.Ping(ctx, ep, "wc", nil))
	// A take acknowledges its queue entry without waiting: the counts
	// settle a moment later.
	want := JobCounts{Completed: 1, InProgress: 1, InQueue: 2}
	var h Health
	waitFor(t, 10*time.Second, fmt.Sprintf("health jobs %+v", want), func() bool {
		h = must(e.Health(ctx, ep))
		return h.Jobs == want
	})
	if h.Workers.Running != 1 || h.Workers.Idle != 2 {
		t.Fatalf("health workers %+v, want 1 running, 2 idle", h.Workers)
	}
	ws := must(e.Workers(ctx, ep))
	held := map[string][]string{}
	for _, w := range ws {
		held[w.ID] = w.Jobs
	}
	if len(ws) != 3 || len(held["wb"]) != 1 || held["wb"][0] != bj.ID || len(held["wa"]) != 0 {
		t.Fatalf("workers %+v", ws)
	}
	qs := must(e.QueueStats(ctx, ep))
	if qs.Queued != 2 || qs.InProgress != 1 || qs.OldestQueuedAge <= 0 {
		t.Fatalf("queue stats %+v", qs)
	}
	_, err := e.Health(ctx, "nope")
	mustErr(t, err, ErrNotFound, "health of unknown endpoint")
}

func testBadInput(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	_, err := e.Submit(ctx, "unknown", SubmitRequest{Input: json.RawMessage(`1`)})
	mustErr(t, err, ErrNotFound, "submit to unknown endpoint")
	_, err = e.Submit(ctx, ep, SubmitRequest{})
	mustErr(t, err, ErrInvalid, "submit without input")
	_, err = e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`), Extra: map[string]json.RawMessage{"s3Config": bigJSON(100 << 10)}})
	mustErr(t, err, ErrTooLarge, "submit with huge extra fields")
	for _, id := range []string{"nope", "a.b", "*", ">", "", "x y"} {
		_, err = e.Get(ctx, ep, id)
		mustErr(t, err, ErrNotFound, "get "+id)
		_, err = e.Cancel(ctx, ep, id)
		mustErr(t, err, ErrNotFound, "cancel "+id)
		mustErr(t, e.Finish(ctx, ep, "w", id, Result{}), ErrNotFound, "finish "+id)
	}
	j := submit(t, e, ep, `1`)
	_, err = e.Get(ctx, "unknown", j.ID)
	mustErr(t, err, ErrNotFound, "get through the wrong endpoint")
	// Endpoints can be reloaded; a removed one is unknown everywhere.
	e.SetEndpoints(nil)
	_, err = e.Get(ctx, ep, j.ID)
	mustErr(t, err, ErrNotFound, "get on a removed endpoint")
	_, err = e.Take(ctx, ep, "w", 1)
	mustErr(t, err, ErrNotFound, "take on a removed endpoint")
	e.SetEndpoints([]EndpointSettings{{ID: ep}, {ID: "bad.id"}})
	if _, ok := e.Endpoint("bad.id"); ok {
		t.Fatal("invalid endpoint id accepted")
	}
	if s := status(t, e, ep, j.ID); s != StatusInQueue {
		t.Fatalf("job after reload: %s", s)
	}
	// Worker ids with odd characters work.
	tj := takeOne(t, e, ep, "pod/with.dots and spaces")
	noErr(t, e.Finish(ctx, ep, "pod/with.dots and spaces", tj.ID, Result{Output: json.RawMessage(`1`)}))
}

func testConcurrentWorkers(t *testing.T, b *backend) {
	e, ep := setup(t, b, func(c *Config) { c.WorkerLostAfter = 10 * time.Second })
	// On a cluster, half the workers and submissions go through a second replica.
	engines := []*Engine{e}
	if b.multi {
		engines = append(engines, b.open(t, e.cfg))
	}
	ctx := ctxT(t, 60*time.Second)
	const jobs, workers = 60, 4
	ids := map[string]bool{}
	for i := range jobs {
		ids[submit(t, engines[i%len(engines)], ep, fmt.Sprint(i)).ID] = true
	}
	var mu sync.Mutex
	done := map[string]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wid := fmt.Sprintf("w%d", w)
			e := engines[w%len(engines)]
			for {
				mu.Lock()
				n := len(done)
				mu.Unlock()
				if n >= jobs || ctx.Err() != nil {
					return
				}
				tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				got, err := e.Take(tctx, ep, wid, 3)
				cancel()
				if err != nil {
					t.Errorf("take: %v", err)
					return
				}
				for _, j := range got {
					mu.Lock()
					if prev, dup := done[j.ID]; dup {
						t.Errorf("job %s taken by %s and %s", j.ID, prev, wid)
					}
					done[j.ID] = wid
					mu.Unlock()
					// Finish through the other replica, if there is one.
					if err := engines[(w+1)%len(engines)].Finish(ctx, ep, wid, j.ID, Result{Output: j.Input}); err != nil {
						t.Errorf("finish: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(done) != jobs {
		t.Fatalf("%d of %d jobs done", len(done), jobs)
	}
	for id := range ids {
		if s := status(t, e, ep, id); s != StatusCompleted {
			t.Fatalf("job %s: %s", id, s)
		}
	}
}

func testRelease(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `"r"`)
	takeOne(t, e, ep, "w1")
	noErr(t, e.Release(ctx, ep, "w1", []string{j.ID}))
	g := must(e.Get(ctx, ep, j.ID))
	if g.Status != StatusInQueue || g.Retries != 0 || g.WorkerID != "" {
		t.Fatalf("released job: %+v", g)
	}
	// Releasing a job the worker does not hold changes nothing.
	noErr(t, e.Release(ctx, ep, "w1", []string{j.ID}))
	tj := takeOne(t, e, ep, "w2")
	if tj.ID != j.ID || string(tj.Input) != `"r"` {
		t.Fatalf("retaken: %+v", tj)
	}
	noErr(t, e.Release(ctx, ep, "w1", []string{j.ID}))
	if s := status(t, e, ep, j.ID); s != StatusInProgress {
		t.Fatalf("release by a non-owner changed the job: %s", s)
	}
	noErr(t, e.Finish(ctx, ep, "w2", j.ID, Result{}))
}

// testConsumerRecreated: a queue consumer deleted from outside (an operator
// with the nats CLI) is recreated, and queued jobs are still taken.
func testConsumerRecreated(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w")
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{}))
	noErr(t, e.queue.DeleteConsumer(ctx, "q_"+ep+"_"+prioNormal))
	j2 := submit(t, e, ep, `2`)
	var got []*Job
	waitFor(t, 20*time.Second, "a take after the consumer was deleted", func() bool {
		jobs, err := e.Take(ctxT(t, 500*time.Millisecond), ep, "w", 1)
		if err != nil {
			t.Logf("take: %v", err)
		}
		got = jobs
		return len(jobs) == 1
	})
	if got[0].ID != j2.ID {
		t.Fatalf("took %s, want %s", got[0].ID, j2.ID)
	}
	noErr(t, e.queue.DeleteConsumer(ctx, "q_"+ep+"_"+prioLow))
	submit(t, e, ep, `3`, func(r *SubmitRequest) { r.Policy.LowPriority = true })
	// A consumer created again on a cluster counts its pending entries a
	// moment after it answers.
	waitFor(t, 10*time.Second, "the low queue counted again", func() bool {
		return must(e.QueueStats(ctx, ep)).QueuedLow == 1
	})
}
