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
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)
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
