package engine

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer that keeps what it hears.
type recorder struct {
	mu       sync.Mutex
	finished map[string]Status // job id -> status
	ran      map[string]bool   // job id -> it had started
	dups     int               // jobs reported finished more than once
	ended    map[Status]int    // QueuedEnded counts
}

func (r *recorder) JobFinished(j *Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.finished[j.ID]; dup {
		r.dups++
	}
	r.finished[j.ID] = j.Status
	r.ran[j.ID] = !j.StartedAt.IsZero()
}

func (r *recorder) QueuedEnded(endpoint string, status Status, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended[status] += n
}

func (r *recorder) snapshot() (map[string]Status, map[string]bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fin := make(map[string]Status, len(r.finished))
	ran := make(map[string]bool, len(r.ran))
	for k, v := range r.finished {
		fin[k], ran[k] = v, r.ran[k]
	}
	return fin, ran, r.dups
}

// TestObserverHearsEveryTerminalTransition: each way a job ends (a result,
// an error result, a cancel, a purge, an execution timeout) is reported
// once with its status; a purge reports how many queued jobs it ended.
func TestObserverHearsEveryTerminalTransition(t *testing.T) {
	rec := &recorder{finished: map[string]Status{}, ran: map[string]bool{}, ended: map[Status]int{}}
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	cfg.Observer = rec
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)

	done := submit(t, e, ep, `1`)
	failed := submit(t, e, ep, `2`)
	slow := submit(t, e, ep, `3`, func(r *SubmitRequest) { r.Policy.ExecutionTimeout = 200 * time.Millisecond })
	for _, want := range []string{done.ID, failed.ID, slow.ID} {
		if got := takeOne(t, e, ep, "w1"); got.ID != want {
			t.Fatalf("took %s, want %s", got.ID, want)
		}
	}
	cancelled := submit(t, e, ep, `4`)
	purged := submit(t, e, ep, `5`)
	noErr(t, e.Finish(ctx, ep, "w1", done.ID, Result{Output: json.RawMessage(`"ok"`)}))
	noErr(t, e.Finish(ctx, ep, "w1", failed.ID, Result{Error: json.RawMessage(`"boom"`)}))
	must(e.Cancel(ctx, ep, cancelled.ID))
	if n := must(e.Purge(ctx, ep)); n != 1 {
		t.Fatalf("purge cancelled %d jobs, want 1", n)
	}

	want := map[string]Status{
		done.ID: StatusCompleted, failed.ID: StatusFailed, slow.ID: StatusTimedOut,
		cancelled.ID: StatusCancelled,
	}
	waitFor(t, 10*time.Second, "every terminal transition", func() bool {
		fin, _, _ := rec.snapshot()
		return len(fin) == len(want)
	})
	fin, ran, dups := rec.snapshot()
	if dups != 0 {
		t.Errorf("%d jobs reported finished more than once", dups)
	}
	for id, st := range want {
		if fin[id] != st {
			t.Errorf("job %s reported %s, want %s", id, fin[id], st)
		}
	}
	if _, ok := fin[purged.ID]; ok {
		t.Errorf("purged job %s reported on its own; purge-queue reports a count", purged.ID)
	}
	rec.mu.Lock()
	if n := rec.ended[StatusCancelled]; n != 1 {
		t.Errorf("purge reported %d queued jobs ended, want 1", n)
	}
	rec.mu.Unlock()
	for id, started := range map[string]bool{done.ID: true, failed.ID: true, slow.ID: true, cancelled.ID: false} {
		if ran[id] != started {
			t.Errorf("job %s reported with started=%v, want %v", id, ran[id], started)
		}
	}
}
