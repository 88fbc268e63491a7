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
