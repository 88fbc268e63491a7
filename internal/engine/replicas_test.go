package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func testWebhook(t *testing.T, b *backend) {
	e, ep := setup(t, b)
	ctx := ctxT(t, 30*time.Second)
	got := make(chan *Delivery, 8)
	stop, err := e.Deliveries(ctx, 4, func(d *Delivery) { got <- d })
	noErr(t, err)
	defer stop()
	next := func(what string) *Delivery {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-ctx.Done():
			t.Fatalf("no delivery: %s", what)
			return nil
		}
	}
	j := submit(t, e, ep, `1`, func(r *SubmitRequest) { r.Webhook = "http://127.0.0.1:9/a" })
	takeOne(t, e, ep, "w")
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`{"v":7}`)}))
	c := submit(t, e, ep, `2`, func(r *SubmitRequest) { r.Webhook = "http://127.0.0.1:9/b" })
	must(e.Cancel(ctx, ep, c.ID))
	bodies := map[string]map[string]any{}
	for range 2 {
		d := next("terminal transitions")
		if d.Try != 1 {
			t.Fatalf("first delivery of %s has try %d", d.JobID, d.Try)
		}
		body := must(d.Body(ctx))
		var m map[string]any
		noErr(t, json.Unmarshal(body, &m))
		bodies[d.JobID] = m
		if d.JobID == j.ID {
			noErr(t, d.Retry(10*time.Millisecond)) // a failed try: handed out again
		} else {
			noErr(t, d.Done())
		}
	}
	if m := bodies[j.ID]; m == nil || m["status"] != "COMPLETED" || fmt.Sprint(m["output"]) != "map[v:7]" || bodies[j.ID]["id"] != j.ID {
		t.Fatalf("completed delivery: %v", bodies)
	}
	if m := bodies[c.ID]; m == nil || m["status"] != "CANCELLED" {
		t.Fatalf("cancelled delivery: %v", bodies)
	}
	d := next("the retried delivery")
	if d.JobID != j.ID || d.Try != 2 || d.URL != "http://127.0.0.1:9/a" {
		t.Fatalf("retried delivery: job %s try %d url %s", d.JobID, d.Try, d.URL)
	}
	noErr(t, d.Done())
	waitFor(t, 10*time.Second, "no delivery left", func() bool {
		n, err := e.PendingDeliveries(ctx)
		return err == nil && n == 0
	})
}

// testTwoReplicas: two engines on one cluster share jobs: one takes, the
// other finishes; stream chunks are returned once whichever replica reads.
func testTwoReplicas(t *testing.T, b *backend) {
	if !b.multi {
		t.Skip("one engine per embedded data directory")
	}
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.WorkerLostAfter = 500 * time.Millisecond
	a := b.open(t, cfg)
	bb := b.open(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, a, ep, "wb")
	go pinger(pctx, bb, ep, "w2")

	// A submits, a worker takes through A; B's Take gets the next job.
	j1 := must(a.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}))
	got := make(chan []*Job, 1)
	go func() {
		jobs, err := bb.Take(ctxT(t, 20*time.Second), ep, "wb", 1)
		if err != nil {
			t.Errorf("take on B: %v", err)
		}
		got <- jobs
	}()
	jobs := <-got
	if len(jobs) != 1 || jobs[0].ID != j1.ID {
		t.Fatalf("B took %v, want %s", jobs, j1.ID)
	}
	// A waits; the worker streams and finishes through B.
	waited := make(chan *Job, 1)
	go func() {
		w, err := a.Wait(ctx, ep, j1.ID)
		if err != nil {
			t.Errorf("wait on A: %v", err)
		}
		waited <- w
	}()
	for i := range 4 {
		noErr(t, bb.AppendStream(ctx, ep, "wb", j1.ID, json.RawMessage(fmt.Sprint(i))))
	}
	_, c1, err := a.ReadStream(ctx, ep, j1.ID)
	if err != nil || joinChunks(c1) != "0,1,2,3" {
		t.Fatalf("read on A: %q %v", joinChunks(c1), err)
	}
	noErr(t, bb.AppendStream(ctx, ep, "wb", j1.ID, json.RawMessage(`4`)))
	_, c2, err := bb.ReadStream(ctx, ep, j1.ID)
	if err != nil || joinChunks(c2) != "4" {
		t.Fatalf("read on B: %q %v", joinChunks(c2), err)
	}
	noErr(t, a.Finish(ctx, ep, "wb", j1.ID, Result{Output: json.RawMessage(`"fin"`)}))
	if w := <-waited; w == nil || w.Status != StatusCompleted || string(w.Output) != `"fin"` {
		t.Fatalf("A's wait: %+v", w)
	}
	_, c3, err := a.ReadStream(ctx, ep, j1.ID)
	if err != nil || len(c3) != 0 {
		t.Fatalf("read after finish: %q %v", joinChunks(c3), err)
	}

	// Worker lost while both reapers run: requeued exactly once.
	j2 := must(bb.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`2`)}))
	takeOne(t, a, ep, "lost")
	r := waitStatus(t, bb, ep, j2.ID, StatusInQueue)
	if r.Retries != 1 {
		t.Fatalf("retries %d after one loss with two reapers", r.Retries)
	}
	h := must(a.Health(ctx, ep))
	if h.Jobs.Retried != 1 || h.Jobs.Completed != 1 {
		t.Fatalf("health %+v", h.Jobs)
	}
	tj := takeOne(t, bb, ep, "w2")
	noErr(t, a.Finish(ctx, ep, "w2", tj.ID, Result{Output: json.RawMessage(`1`)}))
}

// testRestart closes an embedded engine with jobs queued and in progress and
// reopens it on the same data directory: every job reaches a terminal state.
func testRestart(t *testing.T, b *backend) {
	if b.dataDir == "" {
		t.Skip("restart applies to the embedded engine")
	}
	ep := newEndpoint()
	cfg := fastConfig(ep)
	// Short, so the old worker's jobs come back soon; long enough that the
	// new worker's pings are not late on a loaded machine.
	cfg.WorkerLostAfter = time.Second
	e1, err := Open(ctxT(t, 30*time.Second), Config{DataDir: b.dataDir, Endpoints: cfg.Endpoints, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 60*time.Second)
	var ids []string
	for i := range 20 {
		ids = append(ids, must(e1.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(fmt.Sprint(i))})).ID)
	}
	big := must(e1.Submit(ctx, ep, SubmitRequest{Input: bigJSON(1 << 20)}))
	ids = append(ids, big.ID)
	held := must(e1.Take(ctx, ep, "old-worker", 5))
	if len(held) != 5 {
		t.Fatalf("took %d", len(held))
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := b.open(t, cfg)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, e2, ep, "new-worker") // the new worker is alive; the old one is not
	done := map[string]bool{}
	waitFor(t, 30*time.Second, "all jobs done after restart", func() bool {
		jobs, err := e2.Take(ctxT(t, 200*time.Millisecond), ep, "new-worker", 10)
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		for _, j := range jobs {
			if j.ID == big.ID && len(j.Input) != 1<<20 {
				t.Fatalf("big input after restart: %d bytes", len(j.Input))
			}
			noErr(t, e2.Finish(ctx, ep, "new-worker", j.ID, Result{Output: json.RawMessage(`"ok"`)}))
			done[j.ID] = true
		}
		return len(done) == len(ids)
	})
	for _, id := range ids {
		g := must(e2.Get(ctx, ep, id))
		if g.Status != StatusCompleted {
			t.Fatalf("job %s: %s", id, g.Status)
		}
	}
	for _, h := range held {
		if g := must(e2.Get(ctx, ep, h.ID)); g.Retries != 1 {
			t.Fatalf("job held by the old worker: retries %d", g.Retries)
		}
	}
}
