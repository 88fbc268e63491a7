package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// loadHeld is load for a change by the worker holding a job: it starts from
// the record this engine last stored for it, when it remembers one, saving a
// read. The change's compare-and-set fails on a stale record and mutateFrom
// then reads it again. A remembered record that is not the worker's is read
// again at once, so an answer of ErrNotOwner always comes from a fresh read.
func (e *Engine) loadHeld(ctx context.Context, ep, id, wid string) (*record, uint64, error) {
	if r, rev, ok := e.mem.record(ep, id); ok && r.Owner == wid && time.Now().Before(r.ExpireAt) {
		return r, rev, nil
	}
	return e.load(ctx, ep, id)
}

// Finish stores a worker's final result: COMPLETED, or FAILED when the result
// carries a truthy error or is larger than MaxOutputBytes. Only the worker that
// holds the job may finish it (ErrNotOwner otherwise, e.g. for a worker that was
// declared lost); a terminal job never changes.
func (e *Engine) Finish(ctx context.Context, endpoint, workerID, jobID string, res Result) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	r0, rev0, err := e.loadHeld(ctx, endpoint, jobID, workerID)
	if err != nil {
		return err
	}
	if r0.Status != StatusInProgress || r0.Owner != workerID {
		return fmt.Errorf("finish job %s (%s) by %s: %w", jobID, r0.Status, workerID, ErrNotOwner)
	}
	status, errv, output := StatusCompleted, res.Error, res.Output
	if len(output) > e.cfg.MaxOutputBytes {
		status = StatusFailed
		errv = errorValue(fmt.Sprintf("result of %d bytes exceeds the limit of %d bytes", len(output), e.cfg.MaxOutputBytes))
		output = nil
	} else if wire.Truthy(errv) {
		status = StatusFailed
		if len(errv) > inlineMax {
			// Keep the record small: a huge error (say, a traceback) is cut.
			errv = errorValue(fmt.Sprintf("%s ... [error of %d bytes truncated]", errv[:inlineMax/2], len(errv)))
		}
	} else {
		errv = nil
	}
	inline, ref, err := e.putValue(ctx, outSubject(endpoint, jobID), output, e.retention(r0))
	if err != nil {
		return fmt.Errorf("finish job %s: %w", jobID, err)
	}
	r, err := e.mutateFrom(ctx, endpoint, jobID, r0, rev0, func(r *record) error {
		if r.Status != StatusInProgress || r.Owner != workerID {
			return fmt.Errorf("finish job %s (%s) by %s: %w", jobID, r.Status, workerID, ErrNotOwner)
		}
		r.Output, r.OutputRef, r.Error = inline, ref, errv
		r.StopPod = res.StopPod
		r.IsStream = r.IsStream || res.IsStream
		e.terminate(r, status, time.Now().UTC())
		return nil
	})
	if err != nil {
		if ref != nil {
			e.purgeBlobs(context.WithoutCancel(ctx), ref.Subject)
		}
		return err
	}
	e.afterTerminal(ctx, r, StatusInProgress, workerID)
	return nil
}

// Progress stores a progress update as the job's output while it is
// IN_PROGRESS and held by workerID; it never changes a job's state.
func (e *Engine) Progress(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	if len(output) > e.cfg.MaxOutputBytes {
		return fmt.Errorf("progress of job %s: %d bytes: %w", jobID, len(output), ErrTooLarge)
	}
	r0, rev0, err := e.loadHeld(ctx, endpoint, jobID, workerID)
	if err != nil {
		return err
	}
	if r0.Status != StatusInProgress || r0.Owner != workerID {
		return fmt.Errorf("progress of job %s (%s) by %s: %w", jobID, r0.Status, workerID, ErrNotOwner)
	}
	inline, ref, err := e.putValue(ctx, outSubject(endpoint, jobID), output,
		time.Until(r0.Deadline)+e.retention(r0))
	if err != nil {
		return fmt.Errorf("progress of job %s: %w", jobID, err)
	}
	_, err = e.mutateFrom(ctx, endpoint, jobID, r0, rev0, func(r *record) error {
		if r.Status != StatusInProgress || r.Owner != workerID {
			return fmt.Errorf("progress of job %s (%s) by %s: %w", jobID, r.Status, workerID, ErrNotOwner)
		}
		r.Output, r.OutputRef = inline, ref
		return nil
	})
	if err != nil && ref != nil {
		e.purgeBlobs(context.WithoutCancel(ctx), ref.Subject)
	}
	return err
}
