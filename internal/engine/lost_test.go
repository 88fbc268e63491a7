package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestWorkerGone: a worker known to be gone loses its jobs at once (the
// reaper's ping timeout is 30 s here): they go back to the queue, then FAIL
// with the given cause once retries are exhausted; other workers' jobs are
// untouched and the gone worker is no longer listed.
func TestWorkerGone(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	cfg.MaxRetries = 1
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)

	j1 := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	j2 := submit(t, e, ep, `2`)
	takeOne(t, e, ep, "w2")
	noErr(t, e.Ping(ctx, ep, "w1", []string{j1.ID}))
	noErr(t, e.Ping(ctx, ep, "w2", []string{j2.ID}))

	const why = "exited with status 3; its log: sluice logs x --worker w1"
	n, err := e.WorkerGone(ctx, ep, "w1", why)
	if err != nil || n != 1 {
		t.Fatalf("WorkerGone(w1) = %d, %v; want 1 job released", n, err)
	}
	g := must(e.Get(ctx, ep, j1.ID))
	if g.Status != StatusInQueue || g.Retries != 1 || g.WorkerID != "" {
		t.Fatalf("job of the gone worker: %+v, want IN_QUEUE with 1 retry", g)
	}
	if g := must(e.Get(ctx, ep, j2.ID)); g.Status != StatusInProgress || g.WorkerID != "w2" {
		t.Fatalf("another worker's job: %+v", g)
	}
	ws := must(e.Workers(ctx, ep))
	if len(ws) != 1 || ws[0].ID != "w2" {
		t.Fatalf("workers after w1 is gone: %+v", ws)
	}
	mustErr(t, e.Finish(ctx, ep, "w1", j1.ID, Result{Output: json.RawMessage(`"late"`)}), ErrNotOwner, "late finish")

	if tj := takeOne(t, e, ep, "w3"); tj.ID != j1.ID {
		t.Fatalf("retaken job %s, want %s", tj.ID, j1.ID)
	}
	if n, err := e.WorkerGone(ctx, ep, "w3", "was killed by signal SIGKILL"); err != nil || n != 1 {
		t.Fatalf("WorkerGone(w3) = %d, %v", n, err)
	}
	f := must(e.Get(ctx, ep, j1.ID))
	var msg string
	_ = json.Unmarshal(f.Error, &msg)
	if f.Status != StatusFailed || !strings.Contains(msg, "worker w3 was killed by signal SIGKILL") {
		t.Fatalf("job after retries are exhausted: %s %q", f.Status, msg)
	}
	if n, err := e.WorkerGone(ctx, ep, "nobody", why); err != nil || n != 0 {
		t.Fatalf("WorkerGone of an unknown worker = %d, %v", n, err)
	}
}

// TestWorkerStopping: a worker whose pings still report a job that was
// cancelled is listed as stopping it and counted running, not idle, until
// a ping no longer reports it.
func TestWorkerStopping(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	noErr(t, e.Ping(ctx, ep, "w1", []string{j.ID}))
	done := submit(t, e, ep, `2`)
	takeOne(t, e, ep, "w2")
	noErr(t, e.Ping(ctx, ep, "w2", []string{done.ID}))
	noErr(t, e.Finish(ctx, ep, "w2", done.ID, Result{Output: json.RawMessage(`1`)}))
	must(e.Cancel(ctx, ep, j.ID))

	byID := func() map[string]Worker {
		m := map[string]Worker{}
		for _, w := range must(e.Workers(ctx, ep)) {
			m[w.ID] = w
		}
		return m
	}
	ws := byID()
	if w := ws["w1"]; len(w.Jobs) != 0 || len(w.Stopping) != 1 || w.Stopping[0] != j.ID {
		t.Fatalf("w1 after its job was cancelled: %+v", w)
	}
	// A job the worker finished itself is not "stopping", though its last
	// ping still reports it.
	if w := ws["w2"]; len(w.Stopping) != 0 {
		t.Fatalf("w2 after it finished its job: %+v", w)
	}
	h := must(e.Health(ctx, ep))
	if h.Workers.Running != 1 || h.Workers.Idle != 1 || h.Workers.Ready != 1 {
		t.Fatalf("health workers %+v, want w1 running (stopping) and w2 idle", h.Workers)
	}
	noErr(t, e.Ping(ctx, ep, "w1", nil))
	if w := byID()["w1"]; len(w.Stopping) != 0 {
		t.Fatalf("w1 after a ping without the job: %+v", w)
	}
}

// TestWorkerStoppingBeforePing: a job cancelled before the worker's first
// ping that reports it makes the worker stopping at once (its stop signal
// is not fetched), until a later ping says it no longer runs it.
func TestWorkerStoppingBeforePing(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	noErr(t, e.Ping(ctx, ep, "w1", nil))
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	must(e.Cancel(ctx, ep, j.ID))
	ws := must(e.Workers(ctx, ep))
	if len(ws) != 1 || len(ws[0].Stopping) != 1 || ws[0].Stopping[0] != j.ID {
		t.Fatalf("workers after a cancel before any ping reported the job: %+v", ws)
	}
	noErr(t, e.Ping(ctx, ep, "w1", nil))
	if ws := must(e.Workers(ctx, ep)); len(ws) != 1 || len(ws[0].Stopping) != 0 {
		t.Fatalf("workers after a ping without the job: %+v", ws)
	}
}
