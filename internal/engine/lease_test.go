package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestTakeStoresLease: a take leaves the job IN_PROGRESS with its lease in the
// jobs stream (worker, epoch, deadline), counted as in progress; the result
// removes the lease.
func TestTakeStoresLease(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`)}))
	jobs := must(e.Take(ctx, ep, "w1", 1))
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	l, _, err := e.getLease(ctx, ep, j.ID)
	noErr(t, err)
	if l.Worker != "w1" || l.Epoch != 1 || time.Until(l.Deadline) <= 0 {
		t.Fatalf("lease %+v", l)
	}
	qs := must(e.QueueStats(ctx, ep))
	if qs.InProgress != 1 || qs.Queued != 0 {
		t.Fatalf("queue stats %+v, want 1 in progress", qs)
	}
	noErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`1`)}))
	if _, _, err := e.getLease(ctx, ep, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lease after finish: %v, want ErrNotFound", err)
	}
	if qs := must(e.QueueStats(ctx, ep)); qs.InProgress != 0 {
		t.Fatalf("queue stats %+v after finish, want 0 in progress", qs)
	}
}

// TestMoveOldLeases: an engine opened on data whose leases are still in the
// old bucket (sluice_leases) moves them into the jobs stream and deletes the
// bucket; the reaper then acts on the moved lease (its worker is lost, so
// the job goes back to the queue).
func TestMoveOldLeases(t *testing.T) {
	ep := newEndpoint()
	dir := t.TempDir()
	cfg := fastConfig(ep)
	cfg.DataDir = dir
	ctx := ctxT(t, 60*time.Second)

	e1, err := Open(ctx, cfg)
	noErr(t, err)
	j := must(e1.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`)}))
	if jobs := must(e1.Take(ctx, ep, "gone", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	// Put the data in the old layout: the lease in the old bucket only.
	l, rev, err := e1.getLease(ctx, ep, j.ID)
	noErr(t, err)
	old, err := e1.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sluice_leases", Storage: jetstream.FileStorage})
	noErr(t, err)
	b, _ := json.Marshal(l)
	must(old.Put(ctx, jobKey(ep, j.ID), b))
	e1.purgeLease(ctx, ep, j.ID, rev)
	if _, _, err := e1.getLease(ctx, ep, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lease still in the jobs stream: %v", err)
	}
	noErr(t, e1.Close())

	cfg.WorkerLostAfter = 300 * time.Millisecond
	e2 := openEngine(t, cfg)
	if _, err := e2.js.Stream(ctx, oldLeases); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("old lease stream after open: %v, want not found", err)
	}
	moved, _, err := e2.getLease(ctx, ep, j.ID)
	noErr(t, err)
	if moved.Worker != "gone" || moved.Epoch != l.Epoch {
		t.Fatalf("moved lease %+v, want %+v", moved, l)
	}
	waitFor(t, 30*time.Second, "the lost worker's job back in the queue", func() bool {
		got, err := e2.Get(context.Background(), ep, j.ID)
		return err == nil && got.Status == StatusInQueue && got.Retries == 1
	})
}

// TestHandOffToParkedTake: a job submitted while a Take is parked on the
// engine goes straight to it: stored IN_PROGRESS for that worker with its
// lease, no queue entry, and returned by the Take with its input.
func TestHandOffToParkedTake(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	type taken struct {
		jobs []*Job
		err  error
	}
	got := make(chan taken, 1)
	go func() {
		jobs, err := e.Take(ctx, ep, "w1", 4)
		got <- taken{jobs, err}
	}()
	waitFor(t, 10*time.Second, "the Take parked", func() bool {
		e.parkMu.Lock()
		defer e.parkMu.Unlock()
		return len(e.parked[ep]) == 1
	})
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{"n":7}`)}))
	tk := <-got
	noErr(t, tk.err)
	if len(tk.jobs) != 1 || tk.jobs[0].ID != j.ID || string(tk.jobs[0].Input) != `{"n":7}` {
		t.Fatalf("take returned %+v", tk.jobs)
	}
	st := must(e.Get(ctx, ep, j.ID))
	if st.Status != StatusInProgress || st.WorkerID != "w1" {
		t.Fatalf("status %s worker %q, want IN_PROGRESS by w1", st.Status, st.WorkerID)
	}
	if l, _, err := e.getLease(ctx, ep, j.ID); err != nil || l.Worker != "w1" {
		t.Fatalf("lease %+v, %v", l, err)
	}
	if qs := must(e.QueueStats(ctx, ep)); qs.Queued != 0 || qs.InProgress != 1 {
		t.Fatalf("queue stats %+v, want nothing queued and 1 in progress", qs)
	}
	e.parkMu.Lock()
	left := len(e.parked[ep])
	e.parkMu.Unlock()
	if left != 0 {
		t.Fatalf("%d Takes still parked", left)
	}
	noErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`{"ok":1}`)}))
	if done := must(e.Wait(ctx, ep, j.ID)); done.Status != StatusCompleted || string(done.Output) != `{"ok":1}` {
		t.Fatalf("after finish: %s %s", done.Status, done.Output)
	}
}

// TestUnparkWaitsForClaim: a Take that gives up after a Submit claimed it
// still gets what that Submit hands over, so a handed job is never dropped.
func TestUnparkWaitsForClaim(t *testing.T) {
	e := &Engine{parked: map[string][]*parkedTake{}}
	p := e.park("ep", "w1")
	if c := e.claimParked("ep"); c != p {
		t.Fatal("claimParked did not return the parked Take")
	}
	if e.claimParked("ep") != nil {
		t.Fatal("a Take was claimed twice")
	}
	res := make(chan *Job, 1)
	go func() { res <- e.unpark("ep", p) }()
	select {
	case j := <-res:
		t.Fatalf("unpark returned %v before the claim was answered", j)
	case <-time.After(20 * time.Millisecond): // unpark must still be waiting
	}
	p.c <- &Job{ID: "j1"}
	if j := <-res; j == nil || j.ID != "j1" {
		t.Fatalf("unpark returned %v, want j1", j)
	}
	// Not claimed: unpark withdraws it and returns nil at once.
	q := e.park("ep", "w2")
	if j := e.unpark("ep", q); j != nil || e.claimParked("ep") != nil {
		t.Fatal("an unclaimed Take was not withdrawn")
	}
}

// TestResolveClaim: a take whose record write got no answer reads the record
// back: its own IN_PROGRESS record counts as stored, anything else does not,
// and a missing record is not "unknown" (the lease may go).
func TestResolveClaim(t *testing.T) {
	e, ep, ctx := soloEngine(t)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`)}))
	if jobs := must(e.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	want, _, err := e.load(ctx, ep, j.ID)
	noErr(t, err)
	if _, _, stored, unknown := e.resolveClaim(ctx, want); !stored || unknown {
		t.Fatalf("the take's own record: stored %v unknown %v, want stored", stored, unknown)
	}
	other := *want
	other.StartedAt = other.StartedAt.Add(time.Millisecond)
	if _, _, stored, unknown := e.resolveClaim(ctx, &other); stored || unknown {
		t.Fatalf("another take's record: stored %v unknown %v, want neither", stored, unknown)
	}
	gone := *want
	gone.ID = "no-such-job"
	if r, _, stored, unknown := e.resolveClaim(ctx, &gone); r != nil || stored || unknown {
		t.Fatalf("missing record: %v stored %v unknown %v, want nothing", r, stored, unknown)
	}
	if !answered(&jetstream.APIError{Code: 400}) || answered(context.DeadlineExceeded) {
		t.Fatal("answered: a server error is an answer, a timeout is not")
	}
}
