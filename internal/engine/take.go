package engine

// The take path: Take long-polls the queue (or is handed a job, handoff.go),
// claims queue entries (lease and IN_PROGRESS record) and hands the jobs out;
// Release puts jobs a caller could not deliver back.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var errFuture = errors.New("queue entry ahead of its job record")

// futureGrace: a queue entry younger than this whose job record is not found
// is put back for a moment rather than dropped (its record is on the way).
const futureGrace = 2 * time.Second

// loadQueued reads the job record of queue entry m. Submit stores the record
// and the entry at once, so the record may land a moment after the entry: a
// young entry's missing record is awaited until the next queue nudge (sent
// once both are stored) for up to recordWait, then it is errFuture (the entry
// is put back for a moment).
func (e *Engine) loadQueued(ctx context.Context, m jetstream.Msg, ep, id string) (*record, uint64, error) {
	deadline := time.Now().Add(recordWait)
	for {
		wake := e.queueWake(ep) // before the read
		r, rev, err := e.load(ctx, ep, id)
		if !errors.Is(err, ErrNotFound) || entryAge(m) >= futureGrace {
			return r, rev, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, 0, errFuture
		}
		if _, err := e.sleepFor(ctx, wake, left); err != nil {
			return nil, 0, errFuture
		}
	}
}

// recordWait bounds loadQueued's wait for a record stored with its entry.
const recordWait = 20 * time.Millisecond

// entryAge is how long ago queue entry m was stored (futureGrace if unknown).
func entryAge(m jetstream.Msg) time.Duration {
	meta, err := m.Metadata()
	if err != nil {
		return futureGrace
	}
	return time.Since(meta.Timestamp)
}

// Take waits until at least one job is available for the endpoint, moves up to
// n jobs to IN_PROGRESS for workerID and returns them with their input.
// Normal-priority jobs go before low-priority ones. It returns nil, nil when
// ctx ends first, and ErrClosed when the engine closes. Jobs claimed just as
// ctx ends are still returned: a caller that cannot deliver them calls Release.
func (e *Engine) Take(ctx context.Context, endpoint, workerID string, n int) ([]*Job, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	if workerID == "" {
		return nil, fmt.Errorf("take: worker id is required: %w", ErrInvalid)
	}
	n = min(max(n, 1), 256)
	if _, err := e.consumersFor(ctx, endpoint); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	if err := e.touchTake(ctx, endpoint, workerID); err != nil && ctx.Err() == nil {
		return nil, err
	}
	// A queue entry can become visible to the consumer a moment after its
	// publish was acknowledged, so an empty look is repeated shortly after
	// each wake-up before parking for the long re-check.
	quick := []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond}
	q := 0
	for {
		wake := e.queueWake(endpoint) // taken before looking, so no nudge is missed
		c, err := e.consumersFor(ctx, endpoint)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, err
		}
		soon := false
		for _, cons := range []jetstream.Consumer{c.normal, c.low} {
			jobs, seen, retry, err := e.takeFrom(ctx, cons, endpoint, workerID, n)
			if len(jobs) > 0 || err != nil {
				return jobs, err
			}
			soon = soon || retry
			if seen {
				break // stale entries were dropped: look again from the normal queue
			}
		}
		d := recheck
		if soon {
			d = 50 * time.Millisecond
		} else if q < len(quick) {
			d = quick[q]
			q++
		}
		handed, woke, err := e.parkFor(ctx, endpoint, workerID, wake, d)
		if handed != nil {
			// Returned even if ctx ended meanwhile (see the doc comment).
			return []*Job{handed}, nil
		}
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
			return nil, nil
		}
		if woke {
			q = 0
		}
	}
}

// parkFor waits like sleepFor, parked so that a Submit on this engine can
// hand the job straight to this Take (handoff.go); handed is that job.
func (e *Engine) parkFor(ctx context.Context, ep, wid string, wake <-chan struct{}, d time.Duration) (handed *Job, woke bool, err error) {
	p := e.park(ep, wid)
	t := time.NewTimer(d)
	defer t.Stop()
	claimed := false
	select {
	case <-wake:
		woke = true
	case handed = <-p.c:
		claimed, woke = true, true // nil: the Submit failed; look again
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	case <-e.ctx.Done():
		err = ErrClosed
	}
	if !claimed {
		handed = e.unpark(ep, p)
	}
	return handed, woke, err
}

// takeFrom fetches what one consumer has right now and claims it. seen reports
// whether any entry was fetched; retry that an entry will be back shortly.
func (e *Engine) takeFrom(ctx context.Context, cons jetstream.Consumer, ep, wid string, n int) (jobs []*Job, seen, retry bool, err error) {
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, false, nil
		}
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Consumer leader moving, or the consumer deleted from outside:
			// look it up (create it) again on the next pass.
			e.forgetConsumers(ep)
			return nil, false, true, nil
		}
		return nil, false, false, fmt.Errorf("take from %s: %w", ep, err)
	}
	// Once fetched, entries are settled even if the caller gives up, so they
	// are not hidden for AckWait.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	seen = len(msgs) > 0
	for _, c := range e.claimAll(cctx, msgs, ep, wid) {
		switch {
		case errors.Is(c.err, errFuture):
			retry = true
		case c.err != nil:
			err = errors.Join(err, c.err)
		case c.job != nil:
			jobs = append(jobs, c.job)
		}
	}
	if berr := batch.Error(); berr != nil && !errors.Is(berr, jetstream.ErrNoMessages) && ctx.Err() == nil {
		if errors.Is(berr, nats.ErrNoResponders) || errors.Is(berr, nats.ErrTimeout) ||
			errors.Is(berr, jetstream.ErrConsumerNotFound) || errors.Is(berr, jetstream.ErrConsumerDeleted) {
			e.forgetConsumers(ep)
			retry = true
		} else {
			err = errors.Join(err, fmt.Errorf("take from %s: %w", ep, berr))
		}
	}
	// Jobs already claimed are always handed out; errors beside them are logged.
	if err != nil && len(jobs) > 0 {
		e.log.Warn("engine: take", attrEndpoint, ep, attrErr, err)
		err = nil
	}
	return jobs, seen, retry, err
}

// claimed is the outcome of one claim.
type claimed struct {
	job *Job
	err error
}

// claimAll claims the entries of one fetch, in their order. Several are
// claimed at once, so their writes travel together (one round trip for the
// batch rather than one per job); the jobs are independent.
func (e *Engine) claimAll(ctx context.Context, msgs []jetstream.Msg, ep, wid string) []claimed {
	out := make([]claimed, len(msgs))
	if len(msgs) == 1 {
		out[0].job, out[0].err = e.claim(ctx, msgs[0], ep, wid)
		return out
	}
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { out[i].job, out[i].err = e.claim(ctx, m, ep, wid) })
	}
	wg.Wait()
	return out
}

// claim moves the job of queue entry m to IN_PROGRESS for worker wid.
// It returns nil, nil for a stale entry (dropped).
func (e *Engine) claim(ctx context.Context, m jetstream.Msg, ep, wid string) (*Job, error) {
	id, epoch, ok := parseEntry(m.Subject(), m.Data())
	if !ok {
		_ = m.Ack()
		return nil, nil
	}
	r, err := e.claimRecord(ctx, m, ep, id, epoch, wid)
	return e.settleEntry(ctx, m, ep, id, wid, r, err)
}

// claimCheck returns the test a record must pass for a take of its queue
// entry of epoch at time now.
func claimCheck(epoch int, now time.Time) func(r *record) error {
	return func(r *record) error {
		switch {
		case r.Epoch < epoch:
			return errFuture
		case r.Epoch > epoch || r.Status != StatusInQueue:
			return errStale
		case now.After(r.CreatedAt.Add(r.Policy.TTL)):
			return errStale // ttl expired: never started
		}
		return nil
	}
}

// claimRecord stores the lease and the IN_PROGRESS record of a take of ep/id's
// queue entry of epoch (m) and returns the stored record.
func (e *Engine) claimRecord(ctx context.Context, m jetstream.Msg, ep, id string, epoch int, wid string) (*record, error) {
	now := time.Now().UTC()
	check := claimCheck(epoch, now)
	// The record this engine stored when it queued the job saves a read;
	// anything but a match is read again (the compare-and-set below catches
	// a record changed elsewhere since).
	r, rev, ok := e.remembered(ep, id)
	if !ok || check(r) != nil {
		var err error
		if r, rev, err = e.loadQueued(ctx, m, ep, id); err != nil {
			return nil, err
		}
	}
	if err := check(r); err != nil {
		return nil, err
	}
	apply := func(r *record) error {
		if err := check(r); err != nil {
			return err
		}
		r.Status = StatusInProgress
		r.Owner, r.WorkerID = wid, wid
		r.StartedAt = now
		r.Deadline = now.Add(r.Policy.ExecutionTimeout)
		r.Output, r.OutputRef, r.Error = nil, nil, nil
		return nil
	}
	_ = apply(r) // passes: checked above
	// The lease is sent before the state change, and stored first: an
	// IN_PROGRESS job is always indexed for the reaper.
	l := lease{Epoch: epoch, Worker: wid, At: now, Deadline: r.Deadline, Expire: r.CreatedAt.Add(r.Policy.TTL)}
	return e.storeClaim(ctx, r, rev, l, apply)
}

// storeClaim writes the lease l and record r (changed by apply from revision
// rev) of a take. On failure the lease is removed unless the job may be
// IN_PROGRESS with it.
func (e *Engine) storeClaim(ctx context.Context, r *record, rev uint64, l lease, apply func(*record) error) (*record, error) {
	ep, id := r.Endpoint, r.ID
	nrev, err := e.claimWrite(ctx, r, rev, l)
	keepLease := false
	switch {
	case err == nil:
	case errors.Is(err, errUnknownOutcome):
		// No answer to the record write: read what was stored.
		var stored bool
		if r, nrev, stored, keepLease = e.resolveClaim(ctx, r); stored {
			err = nil
		}
	case errors.Is(err, errCAS):
		// Changed meanwhile; the lease is stored: read and try again
		// (mutateFrom remembers the record and nudges).
		if r, err = e.mutateFrom(ctx, ep, id, nil, 0, apply); err == nil {
			return r, nil
		}
	default:
		r = nil // r holds the change that was not stored
	}
	if err == nil {
		e.mem.stored(r, nrev)
		e.nudge(jobNudgeKey(ep, id))
		return r, nil
	}
	e.mem.forget(ep, id)
	if !keepLease && (r == nil || r.Status != StatusInProgress || r.Epoch != l.Epoch) {
		e.dropLease(ctx, ep, id, l.Epoch)
	}
	return nil, err
}

// settleEntry acknowledges or puts back queue entry m after its claim
// (record r stored, or err) and returns the job to hand out, if any.
func (e *Engine) settleEntry(ctx context.Context, m jetstream.Msg, ep, id, wid string, r *record, err error) (*Job, error) {
	switch {
	case err == nil:
		// The entry is acknowledged without waiting for the server's
		// confirmation (a round trip off the hand-off): one lost on the way is
		// delivered again after AckWait and dropped then as stale, since the
		// record has left IN_QUEUE for this epoch.
		if aerr := m.Ack(); aerr != nil {
			e.log.Debug("engine: ack", attrEndpoint, ep, attrJob, id, attrWorker, wid, attrErr, aerr)
		}
		e.mem.takeQueued(ep, id)
		j, err := e.toJob(ctx, r, true)
		if err != nil {
			// Not handed out: put it back rather than leave it with a worker
			// that never saw it.
			if rerr := e.release(ctx, ep, id, wid); rerr != nil {
				e.log.Warn("engine: release", attrEndpoint, ep, attrJob, id, attrWorker, wid, attrErr, rerr)
			}
			return nil, fmt.Errorf("take job %s: %w", id, err)
		}
		return j, nil
	case errors.Is(err, errFuture):
		if entryAge(m) > time.Minute {
			_ = m.Ack() // its job record never caught up: the change that queued it failed
		} else {
			_ = m.NakWithDelay(50 * time.Millisecond)
		}
		return nil, errFuture
	case errors.Is(err, errStale), errors.Is(err, ErrNotFound):
		_ = m.Ack()
		e.mem.takeQueued(ep, id)
		return nil, nil
	default:
		_ = m.Nak()
		return nil, fmt.Errorf("take job %s: %w", id, err)
	}
}

// Release puts jobs that Take returned to workerID back in the queue, without
// counting a retry: for a caller that could not hand them to the worker (for
// example because the worker's request was gone by then). Jobs the worker no
// longer holds are left alone.
func (e *Engine) Release(ctx context.Context, endpoint, workerID string, jobIDs []string) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	var errs []error
	for _, id := range jobIDs {
		errs = append(errs, e.release(ctx, endpoint, id, workerID))
	}
	return errors.Join(errs...)
}

func (e *Engine) release(ctx context.Context, ep, id, wid string) error {
	var epoch int
	r, err := e.mutate(ctx, ep, id, func(r *record) error {
		if r.Status != StatusInProgress || r.Owner != wid {
			return errNoop
		}
		r.Status = StatusInQueue
		r.Owner, r.WorkerID = "", ""
		r.StartedAt, r.Deadline = time.Time{}, time.Time{}
		epoch = r.Epoch
		r.Epoch++
		return e.enqueue(ctx, r)
	})
	if err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	if r.Status == StatusInQueue && epoch > 0 {
		e.dropLease(ctx, ep, id, epoch)
	}
	return nil
}
