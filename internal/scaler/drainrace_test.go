package scaler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// lateTaker is a job server on which a worker takes a job in the window
// between the supervisor's last look at it (idle) and its drain: the first
// WorkerDraining submits a job and returns only once the worker holds it.
type lateTaker struct {
	*jobServer
	once atomic.Bool
	late atomic.Value // string: the job taken late
}

func (q *lateTaker) WorkerDraining(ctx context.Context, ep, wid string) error {
	if q.once.CompareAndSwap(false, true) {
		id := q.submit(ep, map[string]any{"sleep_ms": 500}, false)
		q.late.Store(id)
		for ctx.Err() == nil {
			if j := q.job(id); j.State != "queued" {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return q.jobServer.WorkerDraining(ctx, ep, wid)
}

// TestScaleDownRaceWithTake: a worker chosen for scale-down that takes a job
// just before it is told to drain gets no SIGTERM until that job is done.
func TestScaleDownRaceWithTake(t *testing.T) {
	var q *lateTaker
	h := newHarness(t, `
endpoints:
  - id: race
    command: [TESTWORKERBIN]
    workersMax: 1
    idleTimeout: 1
`, func(c *Config) {
		q = &lateTaker{jobServer: c.Queue.(*jobServer)}
		c.Queue = q
	})
	h.js.waitDone(20*time.Second, h.submit("race", map[string]any{"sleep_ms": 1}))
	eventually(t, 20*time.Second, "the idle worker to be drained", func() bool { return q.late.Load() != nil })
	j := h.js.waitDone(20*time.Second, q.late.Load().(string))[0]
	if j.Output["termDuringJob"] != false || j.Requeued != 0 {
		t.Errorf("the job taken just before the drain: %+v, want done without SIGTERM during it", j)
	}
	eventually(t, 20*time.Second, "the worker to stop", func() bool { return len(h.live("race")) == 0 })
}
