package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
		lostMsg := fmt.Sprintf("worker %s %s", r0.Owner, why)
		if r.Retries >= e.cfg.MaxRetries {
			requeued = false
			e.terminate(r, StatusFailed, time.Now().UTC())
			r.Error = errorValue(fmt.Sprintf("worker lost (after %d retries): worker %s %s", r.Retries, r0.Owner, why))
			closeAttempt(r, OutcomeWorkerLost, lostMsg, r.FinishedAt)
			return nil
		}
		requeued = true
		closeAttempt(r, OutcomeWorkerLost, lostMsg, time.Now().UTC())
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
	e.log.Info("engine: worker lost", attrEndpoint, r.Endpoint, attrJob, r.ID, attrWorker, r0.Owner, attrWhy, why, attrRequeued, requeued)
	if !requeued {
		e.afterTerminal(ctx, r, StatusInProgress, r0.Owner)
		return nil
	}
	e.event(ctx, r.Endpoint, "retried")
	e.signalStop(ctx, r.Endpoint, r0.Owner, r.ID) // in case it comes back
	e.dropLease(ctx, r.Endpoint, r.ID, r0.Epoch)
	return nil
}

// stoppedJobs returns, of the jobs a worker last reported running, those it
// no longer holds because they were stopped: cancelled, timed out, or
// back in the queue or on another worker. A job it finished itself
// (COMPLETED, FAILED) is not one: its report may predate the result.
//
// A job stopped while the worker held it is added to its reported jobs
// when it is stopped (markStopping), so the worker counts as stopping it
// until its next ping says otherwise.
func (e *Engine) stoppedJobs(ctx context.Context, endpoint, workerID string, reported, held []string) []string {
	var out []string
	for _, id := range reported {
		if slices.Contains(held, id) || slices.Contains(out, id) {
			continue
		}
		if r, _, ok := e.mem.finished(endpoint, id); ok && (r.Status == StatusCompleted || r.Status == StatusFailed) {
			continue // finished by its worker here: no read needed
		}
		r, _, err := e.load(ctx, endpoint, id)
		if err != nil {
			continue // gone (expired), or unreadable now: look again next time
		}
		switch {
		case r.Status == StatusCancelled, r.Status == StatusTimedOut, r.Status == StatusInQueue,
			r.Status == StatusInProgress && r.Owner != workerID:
			out = append(out, id)
		}
	}
	return out
}

// FailQueued FAILS every IN_QUEUE job of the endpoint with reason as the
// error (e.g. its workers crash at start, so no job would ever run) and
// returns how many.
func (e *Engine) FailQueued(ctx context.Context, endpoint, reason string) (int, error) {
	n, err := e.endQueued(ctx, endpoint, StatusFailed, errorValue(reason))
	if err != nil {
		return n, fmt.Errorf("fail queued jobs of %s: %w", endpoint, err)
	}
	return n, nil
}

// markStopping adds a job just stopped to the jobs its worker reported
// running: it may not have pinged since it took the job, and a handler that
// ignores the stop keeps running it. Its next ping replaces the list. Best
// effort: a ping stored meanwhile wins.
func (e *Engine) markStopping(ctx context.Context, ep, wid, jobID string) {
	k := ep + "." + token(wid)
	ent, err := e.workers.Get(ctx, k)
	if err != nil {
		return // not known (never seen, or gone)
	}
	var w workerRec
	if json.Unmarshal(ent.Value(), &w) != nil || slices.Contains(w.Jobs, jobID) {
		return
	}
	w.Jobs = append(w.Jobs, jobID)
	b, _ := json.Marshal(w)
	if _, err := e.workers.Update(ctx, k, b, ent.Revision()); err != nil {
		e.log.Debug("engine: mark a stopped job on its worker", attrWorker, wid, attrJob, jobID, attrErr, err)
	}
}
