package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WorkerGone is called when a worker is known to be gone (the process
// that ran it exited), so its jobs need not wait for its pings to time out:
// each IN_PROGRESS job it holds goes back to the queue at once, or FAILS
// once MaxRetries is reached with an error naming the worker and why (a
// phrase such as "exited with status 1"). Its liveness entry is removed,
// so it no longer counts as a live worker. It returns how many jobs it
// released.
func (e *Engine) WorkerGone(ctx context.Context, endpoint, workerID, why string) (int, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return 0, err
	}
	keys, err := e.leaseKeys(ctx, endpoint)
	if err != nil {
		return 0, fmt.Errorf("worker %s gone: %w", workerID, err)
	}
	n := 0
	var errs []error
	for _, k := range keys {
		id := k[strings.LastIndexByte(k, '.')+1:]
		l, _, err := e.getLease(ctx, endpoint, id)
		if err != nil || l.Worker != workerID {
			continue
		}
		r, _, err := e.load(ctx, endpoint, id)
		if err != nil || r.Status != StatusInProgress || r.Owner != workerID {
			continue
		}
		if err := e.lose(ctx, r, why); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	wk := endpoint + "." + token(workerID)
	e.touched.Delete(wk)
	if err := e.workers.Purge(ctx, wk); err != nil {
		errs = append(errs, fmt.Errorf("forget worker %s: %w", workerID, err))
	}
	return n, errors.Join(errs...)
}

// lose takes a job from its worker, which is gone (why says how): back to
// IN_QUEUE with Retries+1, or FAILED once MaxRetries is reached.
func (e *Engine) lose(ctx context.Context, r0 *record, why string) error {
	var requeued bool
	r, err := e.mutate(ctx, r0.Endpoint, r0.ID, func(r *record) error {
		if r.Status != StatusInProgress || r.Epoch != r0.Epoch || r.Owner != r0.Owner {
			return errStale
		}
		if r.Retries >= e.cfg.MaxRetries {
			requeued = false
			e.terminate(r, StatusFailed, time.Now().UTC())
			r.Error = errorValue(fmt.Sprintf("worker lost (after %d retries): worker %s %s", r.Retries, r0.Owner, why))
			return nil
		}
		requeued = true
		r.Retries++
		r.Status = StatusInQueue
		r.Owner, r.WorkerID = "", ""
		r.StartedAt, r.Deadline = time.Time{}, time.Time{}
		r.Output, r.OutputRef = nil, nil
		r.Epoch++
		return e.enqueue(ctx, r)
	})
	if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("requeue job %s: %w", r0.ID, err)
	}
	e.log.Info("engine: worker lost", "endpoint", r.Endpoint, "job", r.ID, "worker", r0.Owner, "why", why, "requeued", requeued)
	if !requeued {
		e.afterTerminal(ctx, r, StatusInProgress, r0.Owner)
		return nil
	}
	e.event(ctx, r.Endpoint, "retried")
	e.signalStop(ctx, r.Endpoint, r0.Owner, r.ID) // in case it comes back
	e.dropLease(ctx, r.Endpoint, r.ID, r0.Epoch)
	return nil
}
