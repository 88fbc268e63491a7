package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/scaler"
)

// drains keeps the workers the supervisor is stopping, so the worker API
// hands them no new job, and ends their parked long polls at once (a
// runpod-python worker exits on SIGTERM only after its polls return).
type drains struct {
	mu       sync.Mutex
	draining map[workerKey]bool
	polls    map[workerKey]map[*int]context.CancelFunc
}

type workerKey struct{ endpoint, worker string }

func newDrains() *drains {
	return &drains{draining: map[workerKey]bool{}, polls: map[workerKey]map[*int]context.CancelFunc{}}
}

// poll registers a long poll of worker: its context ends when the worker
// starts draining. draining reports whether it already is; done must be
// called when the poll returns.
func (d *drains) poll(ctx context.Context, endpoint, worker string) (pctx context.Context, draining bool, done func()) {
	k := workerKey{endpoint, worker}
	pctx, cancel := context.WithCancel(ctx)
	tok := new(int)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.polls[k] == nil {
		d.polls[k] = map[*int]context.CancelFunc{}
	}
	d.polls[k][tok] = cancel
	return pctx, d.draining[k], func() {
		cancel()
		d.mu.Lock()
		delete(d.polls[k], tok)
		if len(d.polls[k]) == 0 {
			delete(d.polls, k)
		}
		d.mu.Unlock()
	}
}

// lifecycleQueue is the engine as the supervisor sees it, with
// scaler.WorkerLifecycle implemented by drains.
type lifecycleQueue struct {
	*engine.Engine
	d *drains
}

var _ scaler.WorkerLifecycle = lifecycleQueue{}

// WorkerDraining marks the worker and ends its parked polls (they answer 204).
func (q lifecycleQueue) WorkerDraining(ctx context.Context, endpoint, workerID string) error {
	k := workerKey{endpoint, workerID}
	q.d.mu.Lock()
	defer q.d.mu.Unlock()
	q.d.draining[k] = true
	for _, cancel := range q.d.polls[k] {
		cancel()
	}
	return nil
}

// WorkerExited re-queues the jobs the worker held at once and forgets it;
// worker ids are not reused.
func (q lifecycleQueue) WorkerExited(ctx context.Context, endpoint, workerID, why string) error {
	q.d.mu.Lock()
	delete(q.d.draining, workerKey{endpoint, workerID})
	q.d.mu.Unlock()
	if _, err := q.WorkerGone(ctx, endpoint, workerID, why); err != nil {
		return fmt.Errorf("worker %s exited: %w", workerID, err)
	}
	return nil
}

// drainingHold is how long a draining worker's job-take is held before its
// 204: long enough that a worker polling in a loop does not spin, short
// enough that one that got SIGTERM (runpod-python waits for its poll to
// return before it exits) stops promptly.
const drainingHold = time.Second

// Take hands a draining worker nothing: its poll is held for drainingHold
// (or until the request ends) and answered 204.
func (h hookedEngine) Take(ctx context.Context, endpoint, workerID string, n int) ([]*engine.Job, error) {
	pctx, draining, done := h.drains.poll(ctx, endpoint, workerID)
	defer done()
	if draining {
		t := time.NewTimer(drainingHold)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil, nil
	}
	jobs, err := h.Engine.Take(pctx, endpoint, workerID, n)
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		return nil, nil // ended by the drain
	}
	return jobs, err
}

// StopSignals ends a draining worker's stop poll at once too.
func (h hookedEngine) StopSignals(ctx context.Context, endpoint, workerID string) ([]string, error) {
	pctx, draining, done := h.drains.poll(ctx, endpoint, workerID)
	defer done()
	if draining {
		return nil, nil
	}
	ids, err := h.Engine.StopSignals(pctx, endpoint, workerID)
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		return nil, nil
	}
	return ids, err
}
