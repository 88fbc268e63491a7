package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Get returns a job. Unknown and expired jobs are ErrNotFound. The output is
// always included; the input only when it is small (up to 64 KiB).
func (e *Engine) Get(ctx context.Context, endpoint, id string) (*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	r, _, err := e.load(ctx, endpoint, id)
	if err != nil {
		return nil, err
	}
	return e.toJob(ctx, r, false)
}

// SetTTL changes a job's ttl (Runpod's /status?ttl=), counted from its
// submission, so a client can ask for an earlier delete. It can only shorten
// the ttl (stored values carry the original one): a longer one is ErrInvalid.
// A ttl already past removes the job at once.
func (e *Engine) SetTTL(ctx context.Context, endpoint, id string, ttl time.Duration) (*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	r, err := e.mutate(ctx, endpoint, id, func(r *record) error {
		if ttl > r.Policy.TTL {
			return fmt.Errorf("ttl of job %s can only be shortened (now %s): %w", id, r.Policy.TTL, ErrInvalid)
		}
		if ttl == r.Policy.TTL {
			return errNoop
		}
		r.Policy.TTL = ttl
		if end := r.CreatedAt.Add(ttl); end.Before(r.ExpireAt) {
			r.ExpireAt = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !time.Now().Before(r.ExpireAt) {
		// Already past: remove it now rather than at the server's next expiry.
		if err := e.jobs.Purge(ctx, jetstream.WithPurgeSubject(jobSubject(endpoint, id))); err != nil {
			return nil, fmt.Errorf("remove job %s: %w", id, err)
		}
		return nil, fmt.Errorf("job %s: ttl over: %w", id, ErrNotFound)
	}
	return e.toJob(ctx, r, false)
}

// Input returns a job's input, however large (Get includes it only up to 64 KiB).
func (e *Engine) Input(ctx context.Context, endpoint, id string) (json.RawMessage, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	r, _, err := e.load(ctx, endpoint, id)
	if err != nil {
		return nil, err
	}
	if r.InputRef == nil {
		return r.Input, nil
	}
	b, err := e.getBlob(ctx, r.InputRef)
	if err != nil {
		return nil, fmt.Errorf("job %s input: %w", id, err)
	}
	return b, nil
}

// current reads a job after the caller's ctx ended, for long polls that
// answer with the job's current state.
func (e *Engine) current(ctx context.Context, endpoint, id string) (*Job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return e.Get(ctx, endpoint, id)
}

// rememberedWait bounds Wait's first wait when it starts from the record this
// engine remembers rather than a fresh read.
const rememberedWait = 100 * time.Millisecond

// Wait blocks until the job is terminal or ctx ends; then it returns the job as
// it is (with a nil error when only ctx ended).
func (e *Engine) Wait(ctx context.Context, endpoint, id string) (*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	if !tokenRE.MatchString(id) {
		return nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	useMem := true
	for {
		wake, done := e.nudges.wait(jobNudgeKey(endpoint, id)) // before the read
		// A job this engine queued or handed out (a /runsync, a status-sync
		// right after /run) is waited for without a read, at first and after
		// each wake-up: another replica's change to it makes this engine
		// forget it (onNudge), and this engine's own changes update it. The
		// wait is short then, and a wait that ends without a nudge reads the
		// record: the nudge may have been lost, or the remembered record may
		// be older than a change made before this Wait began.
		d := recheck
		var (
			r   *record
			rev uint64
			ok  bool
			err error
		)
		if useMem {
			r, rev, ok = e.remembered(endpoint, id)
		}
		if ok {
			d = rememberedWait
		} else {
			r, rev, err = e.load(ctx, endpoint, id)
		}
		if err == nil && !r.Status.Terminal() {
			var woke bool
			woke, err = e.sleepFor(ctx, wake, d)
			useMem = woke
			done()
			if err == nil {
				// Woken by this engine's own terminal write (a newer revision
				// than the one read): that record is the answer, no read needed.
				if t, trev, ok := e.mem.finished(endpoint, id); woke && ok && trev > rev {
					return e.toJob(ctx, t, false)
				}
				continue
			}
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
			return e.current(ctx, endpoint, id)
		}
		done()
		if err != nil {
			if ctx.Err() != nil {
				return e.current(ctx, endpoint, id)
			}
			return nil, err
		}
		return e.toJob(ctx, r, false)
	}
}

// Cancel moves an IN_QUEUE or IN_PROGRESS job to CANCELLED and, when a worker
// holds it, sends that worker a stop signal. A terminal job is ErrConflict.
func (e *Engine) Cancel(ctx context.Context, endpoint, id string) (*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	var was Status
	var owner string
	r, err := e.mutate(ctx, endpoint, id, func(r *record) error {
		was, owner = r.Status, r.Owner
		if r.Status.Terminal() {
			return fmt.Errorf("cancel job %s in state %s: %w", id, r.Status, ErrConflict)
		}
		e.terminate(r, StatusCancelled, time.Now().UTC())
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.afterTerminal(ctx, r, was, owner)
	return e.toJob(ctx, r, false)
}

// afterTerminal does what follows a terminal transition made by this engine:
// queue and lease clean-up, the stop signal, the counters and the webhook.
func (e *Engine) afterTerminal(ctx context.Context, r *record, was Status, owner string) {
	ctx = context.WithoutCancel(ctx)
	// The counter's write is sent first and awaited last, so it travels
	// while the queue or lease is cleaned up.
	counted := e.eventAsync(r.Endpoint, eventKind(r.Status))
	switch was {
	case StatusInQueue:
		e.dequeue(ctx, r.Endpoint, r.ID)
	case StatusInProgress:
		if owner != "" && r.Status != StatusCompleted && r.Status != StatusFailed {
			e.signalStop(ctx, r.Endpoint, owner, r.ID)
		}
		e.dropLease(ctx, r.Endpoint, r.ID, r.Epoch)
	}
	counted(ctx)
	if o := e.observer(); o != nil {
		o.JobFinished(&r.Job)
	}
	if r.Webhook != "" {
		e.recordDelivery(ctx, r)
	}
}

// Retry moves a FAILED or TIMED_OUT job back to IN_QUEUE with the same id and
// input and its output cleared. Other states are ErrConflict.
func (e *Engine) Retry(ctx context.Context, endpoint, id string) (*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	var oldOut *blobRef
	r, err := e.mutate(ctx, endpoint, id, func(r *record) error {
		if r.Status != StatusFailed && r.Status != StatusTimedOut {
			return fmt.Errorf("retry job %s in state %s: %w", id, r.Status, ErrConflict)
		}
		oldOut = r.OutputRef
		closeAttempt(r, string(r.Status), "", time.Now().UTC())
		r.Status = StatusInQueue
		r.Output, r.OutputRef, r.Error = nil, nil, nil
		r.StartedAt, r.FinishedAt, r.Deadline = time.Time{}, time.Time{}, time.Time{}
		r.WorkerID, r.Owner, r.StopPod = "", "", false
		r.ExpireAt = r.CreatedAt.Add(r.Policy.TTL)
		if !time.Now().Before(r.ExpireAt) {
			return fmt.Errorf("retry job %s: %w", id, ErrNotFound)
		}
		r.Epoch++
		// Queue first: a take that sees this entry before the record changed
		// puts it back for a moment instead of dropping it.
		return e.enqueue(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	if oldOut != nil {
		e.purgeBlobs(context.WithoutCancel(ctx), oldOut.Subject)
	}
	return e.toJob(ctx, r, false)
}
