package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestMemoryKeepsNewest: a store that finishes late (an older revision) never
// replaces a newer remembered record or terminal state.
func TestMemoryKeepsNewest(t *testing.T) {
	m := newMemory()
	rec := func(s Status) *record {
		return &record{Job: Job{ID: "j", Endpoint: "ep", Status: s, Input: json.RawMessage(`{}`)}}
	}
	m.stored(rec(StatusInProgress), 5)
	m.stored(rec(StatusInQueue), 3)
	if r, rev, ok := m.record("ep", "j"); !ok || rev != 5 || r.Status != StatusInProgress {
		t.Fatalf("remembered %v at %d (%v), want IN_PROGRESS at 5", r, rev, ok)
	}
	m.stored(rec(StatusCompleted), 7)
	m.stored(rec(StatusInQueue), 4)
	if r, _, ok := m.record("ep", "j"); ok {
		t.Fatalf("a late store brought back %s after the job finished", r.Status)
	}
	if _, rev, ok := m.finished("ep", "j"); !ok || rev != 7 {
		t.Fatalf("finished at %d (%v), want 7", rev, ok)
	}
}

// TestWaitStaleMemory: a remembered record older than the stored state (its
// newer revision no longer remembered) does not hold Wait: without a nudge,
// Wait reads the record after its short first wait.
func TestWaitStaleMemory(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`)}))
	stale, rev, ok := e.mem.record(ep, j.ID)
	if !ok {
		t.Fatal("the submitted job is not remembered")
	}
	if jobs := must(e.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	noErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`2`)}))
	// The terminal state is forgotten (as when the memory starts over) and
	// the queued record comes back, as a late store would bring it.
	e.mem.forgetKey(jobKey(ep, j.ID))
	e.mem.stored(stale, rev)
	// Wait must return because the job is terminal, not because its
	// context ended (a stale memory would hold it until then).
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := must(e.Wait(wctx, ep, j.ID))
	if wctx.Err() != nil {
		t.Fatal("Wait returned only when its context ended")
	}
	if done.Status != StatusCompleted || string(done.Output) != `2` {
		t.Fatalf("wait: %s %s, want COMPLETED 2", done.Status, done.Output)
	}
}
