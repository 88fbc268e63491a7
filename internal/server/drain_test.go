package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// TestDrain: once the supervisor says a worker drains, its parked job-take
// ends at once with no job, later takes are held briefly and hand it
// nothing (the job goes to another worker), and its stop poll returns at once.
func TestDrain(t *testing.T) {
	ctx := t.Context()
	eng, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), Endpoints: []engine.EndpointSettings{{ID: "ep"}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dr := newDrains()
	h := hookedEngine{Engine: eng, drains: dr}
	q := lifecycleQueue{Engine: eng, d: dr}

	parked := make(chan []*engine.Job, 1)
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		jobs, _ := h.Take(pctx, "ep", "w1", 1)
		parked <- jobs
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dr.mu.Lock()
		n := len(dr.polls[workerKey{"ep", "w1"}])
		dr.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("take never parked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := q.WorkerDraining(ctx, "ep", "w1"); err != nil {
		t.Fatal(err)
	}
	select {
	case jobs := <-parked:
		if len(jobs) != 0 || time.Since(start) > 5*time.Second {
			t.Errorf("parked take of a draining worker: %d jobs after %v", len(jobs), time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked take not ended by the drain")
	}

	job, err := eng.Submit(ctx, "ep", engine.SubmitRequest{Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// A new take of the draining worker, with a long request deadline, is
	// answered with no job after the short drainingHold, not the deadline.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	jobs, err := h.Take(tctx, "ep", "w1", 1)
	late := tctx.Err()
	cancel()
	if err != nil || len(jobs) != 0 || late != nil {
		t.Errorf("take of a draining worker: %v %v (request deadline reached: %v)", jobs, err, late)
	}
	if ids, err := h.StopSignals(ctx, "ep", "w1"); err != nil || len(ids) != 0 {
		t.Errorf("stop poll of a draining worker: %v %v", ids, err)
	}
	tctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	jobs, err = h.Take(tctx, "ep", "w2", 1)
	cancel()
	if err != nil || len(jobs) != 1 || jobs[0].ID != job.ID {
		t.Errorf("take of another worker: %v %v", jobs, err)
	}
	if err := q.WorkerExited(ctx, "ep", "w1", "exited with status 0"); err != nil {
		t.Fatal(err)
	}
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if len(dr.draining) != 0 || len(dr.polls) != 0 {
		t.Errorf("state left after exit: %v %v", dr.draining, dr.polls)
	}
}
