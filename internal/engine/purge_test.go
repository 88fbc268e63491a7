package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// submitMany submits n jobs from 16 goroutines and returns them.
func submitMany(t *testing.T, e *Engine, ep string, n int) []*Job {
	t.Helper()
	ctx := ctxT(t, 5*time.Minute)
	out := make([]*Job, n)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < n; i += 16 {
				j, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)})
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				out[i] = j
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// TestPurgeOneStep: a purge costs a fixed number of requests however many
// jobs are queued (here 5,000); every purged job reads CANCELLED, also after
// a restart, and a job submitted after the purge runs.
func TestPurgeOneStep(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	ctx := ctxT(t, time.Minute)
	jobs := submitMany(t, e, ep, 5000)
	st0 := e.nc.Stats()
	n, err := e.Purge(ctx, ep)
	st1 := e.nc.Stats()
	if err != nil || n != len(jobs) {
		t.Fatalf("purge: %d, %v; want %d", n, err, len(jobs))
	}
	// Five requests (two consumer looks, two queue subjects and the
	// mark), plus what the reaper sends meanwhile; one per job would be
	// thousands.
	if reqs := st1.OutMsgs - st0.OutMsgs; reqs > 20 {
		t.Errorf("purge of %d jobs sent %d messages, want at most 20", n, reqs)
	}
	for _, j := range []*Job{jobs[0], jobs[len(jobs)/2], jobs[len(jobs)-1]} {
		g := must(e.Get(ctx, ep, j.ID))
		if g.Status != StatusCancelled || g.FinishedAt.IsZero() {
			t.Fatalf("purged job %s: %s (finished %v)", j.ID, g.Status, g.FinishedAt)
		}
	}
	if qs := must(e.QueueStats(ctx, ep)); qs.Queued != 0 {
		t.Fatalf("queue after purge: %+v", qs)
	}
	mustErr(t, func() error { _, err := e.Cancel(ctx, ep, jobs[1].ID); return err }(), ErrConflict, "cancel a purged job")
	after := submit(t, e, ep, `2`)
	if got := takeOne(t, e, ep, "w"); got.ID != after.ID {
		t.Fatalf("took %s, want the job submitted after the purge %s", got.ID, after.ID)
	}
	noErr(t, e.Close())
	e2 := openEngine(t, cfg)
	if s := status(t, e2, ep, jobs[7].ID); s != StatusCancelled {
		t.Fatalf("purged job after restart: %s", s)
	}
	if s := status(t, e2, ep, after.ID); s != StatusInProgress {
		t.Fatalf("job taken after the purge, after restart: %s", s)
	}
}

// TestOutageLongerThanWorkerLost: an engine down for longer than
// WorkerLostAfter does not declare its workers lost when it comes back; a
// result the worker computed meanwhile is accepted, and the job ran once.
func TestOutageLongerThanWorkerLost(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	cfg.WorkerLostAfter = 1500 * time.Millisecond
	e := openEngine(t, cfg)
	j := submit(t, e, ep, `1`)
	takeOne(t, e, ep, "w1")
	noErr(t, e.Close())
	down := time.Now()
	waitFor(t, 10*time.Second, "an outage longer than WorkerLostAfter", func() bool {
		return time.Since(down) > 2*cfg.WorkerLostAfter
	})
	e2 := openEngine(t, cfg)
	// Several reaper passes within the worker's grace after the start.
	waitFor(t, 10*time.Second, "three reaper passes", func() bool { return e2.reaps.Load() >= 3 })
	ctx := ctxT(t, 10*time.Second)
	noErr(t, e2.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`"done"`)}))
	g := must(e2.Get(ctx, ep, j.ID))
	if g.Status != StatusCompleted || g.Retries != 0 || g.WorkerID != "w1" {
		t.Fatalf("after the outage: %s, retries %d, worker %s; want COMPLETED by w1 with no retry", g.Status, g.Retries, g.WorkerID)
	}
}

// TestMoveOldQueue: queue entries of the old layout (a subject per job)
// found at Open are moved to their endpoint's subject, in order, and taken.
func TestMoveOldQueue(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	var jobs []*Job
	for i := range 3 {
		jobs = append(jobs, submit(t, e, ep, fmt.Sprint(i)))
	}
	// Replace the entries with old-layout ones.
	noErr(t, e.queue.Purge(ctx, jetstream.WithPurgeSubject(queueSubject(ep, prioNormal))))
	for _, j := range jobs {
		_, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: queuePrefix + ep + "." + prioNormal + "." + j.ID, Data: []byte("1")},
			jetstream.WithMsgTTL(time.Hour))
		noErr(t, err)
	}
	noErr(t, e.Close())
	e2 := openEngine(t, cfg)
	for _, j := range jobs {
		if got := takeOne(t, e2, ep, "w"); got.ID != j.ID {
			t.Fatalf("took %s, want %s (moved in order)", got.ID, j.ID)
		}
	}
	if _, err := e2.queue.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(queuePrefix+"*.*.*")); !isNotFound(err) {
		t.Fatalf("old-layout entries left: %v", err)
	}
}

// TestFailQueuedThenPurge: a job ended by FailQueued (a crash-looping
// endpoint) reads FAILED with its reason, and stays so after a later
// purge-queue, whose own job reads CANCELLED; both hold after a restart
// (the last mark carries its recent predecessors).
func TestFailQueuedThenPurge(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	failed := submit(t, e, ep, `1`)
	if n := must(e.FailQueued(ctx, ep, "workers crash at start")); n != 1 {
		t.Fatalf("FailQueued ended %d jobs, want 1", n)
	}
	purged := submit(t, e, ep, `2`)
	if n := must(e.Purge(ctx, ep)); n != 1 {
		t.Fatalf("purge ended %d jobs, want 1", n)
	}
	check := func(e *Engine, when string) {
		t.Helper()
		f := must(e.Get(ctx, ep, failed.ID))
		if f.Status != StatusFailed || !strings.Contains(string(f.Error), "workers crash at start") {
			t.Errorf("%s: job failed by FailQueued reads %s, error %s", when, f.Status, f.Error)
		}
		if s := status(t, e, ep, purged.ID); s != StatusCancelled {
			t.Errorf("%s: purged job reads %s", when, s)
		}
	}
	check(e, "before restart")
	noErr(t, e.Close())
	check(openEngine(t, cfg), "after restart")
}
