package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Nudge subjects (core NATS, published after the change is stored).
const (
	nudgeQueue = "sluice.n.q." // + ep: a queue entry is available
	nudgeJob   = "sluice.n.j." // + ep.id: a job record changed or a chunk was added
	nudgeStop  = "sluice.n.s." // + ep.worker: a stop signal for the worker
)

// nudge wakes the waiters on subject: this engine's at once, in process, and
// other replicas' through NATS (the connection does not echo its own
// messages, so a local waiter is not woken twice). The embedded server
// listens on no port, so no other replica can be connected to it: nothing is
// published then.
func (e *Engine) nudge(subject string) {
	if ep, ok := strings.CutPrefix(subject, nudgeQueue); ok {
		e.wakeQueue(ep)
	} else {
		e.nudges.fire(subject)
	}
	if e.srv != nil {
		return
	}
	if err := e.nc.Publish(subject, nil); err != nil {
		e.log.Debug("engine: nudge", "subject", subject, "err", err)
	}
}

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
	c, err := e.consumersFor(ctx, endpoint)
	if err != nil {
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
		if c, err = e.consumersFor(ctx, endpoint); err != nil {
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
	for m := range batch.Messages() {
		seen = true
		j, cerr := e.claim(cctx, m, ep, wid)
		switch {
		case errors.Is(cerr, errFuture):
			retry = true
		case cerr != nil:
			err = errors.Join(err, cerr)
		case j != nil:
			jobs = append(jobs, j)
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
		e.log.Warn("engine: take", "endpoint", ep, "err", err)
		err = nil
	}
	return jobs, seen, retry, err
}

// claim moves the job of queue entry m to IN_PROGRESS for worker wid.
// It returns nil, nil for a stale entry (dropped).
func (e *Engine) claim(ctx context.Context, m jetstream.Msg, ep, wid string) (*Job, error) {
	subj := m.Subject()
	id := subj[strings.LastIndexByte(subj, '.')+1:]
	epoch, err := strconv.Atoi(string(m.Data()))
	if err != nil {
		_ = m.Ack()
		return nil, nil
	}
	now := time.Now().UTC()
	check := func(r *record) error {
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
	// The record this engine stored when it queued the job saves a read;
	// anything but a match is read again (the compare-and-set below catches
	// a record changed elsewhere since).
	r, rev, ok := e.mem.record(ep, id)
	if !ok || check(r) != nil {
		r, rev, err = e.loadQueued(ctx, m, ep, id)
	}
	if err == nil {
		err = check(r)
	}
	if err == nil {
		// The lease is sent before the state change, and stored first: an
		// IN_PROGRESS job is always indexed for the reaper.
		l := lease{Epoch: epoch, Worker: wid, At: now,
			Deadline: now.Add(r.Policy.ExecutionTimeout), Expire: r.CreatedAt.Add(r.Policy.TTL)}
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
		keepLease := false
		if err = apply(r); err == nil {
			var nrev uint64
			nrev, err = e.claimWrite(ctx, r, rev, l)
			resolved := false
			if errors.Is(err, errUnknownOutcome) {
				// No answer to the record write: read what was stored.
				want := r
				var stored bool
				r, nrev, stored, keepLease = e.resolveClaim(ctx, want)
				resolved = true
				if stored {
					err = nil
				}
			}
			switch {
			case err == nil:
				e.mem.stored(r, nrev)
				e.nudge(jobNudgeKey(ep, id))
			case errors.Is(err, errCAS):
				// Changed meanwhile; the lease is stored: read and try again.
				r, err = e.mutateFrom(ctx, ep, id, nil, 0, apply)
			default:
				e.mem.forget(ep, id)
				if !resolved {
					r = nil // r holds the change that was not stored
				}
			}
		}
		if err != nil && !keepLease && (r == nil || r.Status != StatusInProgress || r.Epoch != epoch) {
			e.dropLease(ctx, ep, id, epoch)
		}
	}
	switch {
	case err == nil:
		// The entry is acknowledged without waiting for the server's
		// confirmation (a round trip off the hand-off): one lost on the way is
		// delivered again after AckWait and dropped then as stale, since the
		// record has left IN_QUEUE for this epoch.
		if aerr := m.Ack(); aerr != nil {
			e.log.Debug("engine: ack", "job", id, "err", aerr)
		}
		j, err := e.toJob(ctx, r, true)
		if err != nil {
			// Not handed out: put it back rather than leave it with a worker
			// that never saw it.
			if rerr := e.release(ctx, ep, id, wid); rerr != nil {
				e.log.Warn("engine: release", "job", id, "err", rerr)
			}
			return nil, fmt.Errorf("take job %s: %w", id, err)
		}
		return j, nil
	case errors.Is(err, errFuture):
		meta, merr := m.Metadata()
		if merr == nil && time.Since(meta.Timestamp) > time.Minute {
			_ = m.Ack() // its job record never caught up: the change that queued it failed
		} else {
			_ = m.NakWithDelay(50 * time.Millisecond)
		}
		return nil, errFuture
	case errors.Is(err, errStale), errors.Is(err, ErrNotFound):
		_ = m.Ack()
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

// queueWake returns a channel closed at the next queue nudge for endpoint.
// One subscription per engine serves every parked Take.
func (e *Engine) queueWake(endpoint string) <-chan struct{} {
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	c := e.wake[endpoint]
	if c == nil {
		c = make(chan struct{})
		e.wake[endpoint] = c
	}
	return c
}

// onQueueNudge wakes the Takes parked on an endpoint for another replica's nudge.
func (e *Engine) onQueueNudge(m *nats.Msg) { e.wakeQueue(strings.TrimPrefix(m.Subject, nudgeQueue)) }

// onNudge handles another replica's job or stop nudge (the connection does
// not echo this engine's own): a job changed elsewhere is forgotten, so the
// next use of it reads it, and its waiters wake.
func (e *Engine) onNudge(m *nats.Msg) {
	if k, ok := strings.CutPrefix(m.Subject, nudgeJob); ok {
		e.mem.forgetKey(k)
	}
	e.nudges.fire(m.Subject)
}

// wakeQueue wakes the Takes parked on endpoint ep.
func (e *Engine) wakeQueue(ep string) {
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	if c := e.wake[ep]; c != nil {
		close(c)
		delete(e.wake, ep)
	}
}

// touchTake records a take as a sign of life, at most every
// WorkerLostAfter/10 per worker from this engine.
func (e *Engine) touchTake(ctx context.Context, ep, wid string) error {
	k := ep + "." + token(wid)
	if v, ok := e.touched.Load(k); ok && time.Since(v.(time.Time)) < e.cfg.WorkerLostAfter/10 {
		return nil
	}
	if err := e.touch(ctx, ep, wid, nil); err != nil {
		return err
	}
	e.touched.Store(k, time.Now())
	return nil
}

// touch records that a worker was seen, with the jobs it reports.
func (e *Engine) touch(ctx context.Context, ep, wid string, jobs []string) error {
	b, _ := json.Marshal(workerRec{ID: wid, LastSeen: time.Now().UTC(), Jobs: jobs})
	if _, err := e.workers.Put(ctx, ep+"."+token(wid), b); err != nil {
		return fmt.Errorf("worker %s: %w", wid, err)
	}
	return nil
}

// Ping records a worker's heartbeat and the jobs it reports in progress.
// A worker that does not ping for WorkerLostAfter loses its jobs.
func (e *Engine) Ping(ctx context.Context, endpoint, workerID string, jobIDs []string) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	if workerID == "" {
		return fmt.Errorf("ping: worker id is required: %w", ErrInvalid)
	}
	return e.touch(ctx, endpoint, workerID, jobIDs)
}

// Truthy reports whether a JSON value is true as Python would judge it
// (how runpod-python reads a result's "error" and "stopPod"): null, false,
// 0, "", [] and {} are not; an undecodable non-empty value is.
func Truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch string(v) {
	case "", "null", "false", `""`, "[]", "{}", "0":
		return false
	case "true":
		return true
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return true
	}
	switch y := x.(type) {
	case nil:
		return false
	case bool:
		return y
	case float64:
		return y != 0
	case string:
		return y != ""
	case []any:
		return len(y) > 0
	case map[string]any:
		return len(y) > 0
	}
	return true
}

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
	} else if Truthy(errv) {
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

// AppendStream adds one stream chunk to a job held by workerID. Chunks over
// 64 KiB are stored in the blob stream, so a 1 MB chunk works on a cluster with
// NATS's default max_payload; a chunk over MaxOutputBytes is ErrTooLarge.
func (e *Engine) AppendStream(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	if len(output) > e.cfg.MaxOutputBytes {
		return fmt.Errorf("stream chunk of job %s: %d bytes over %d: %w", jobID, len(output), e.cfg.MaxOutputBytes, ErrTooLarge)
	}
	r, _, err := e.load(ctx, endpoint, jobID)
	if err != nil {
		return err
	}
	if r.Status != StatusInProgress || r.Owner != workerID {
		return fmt.Errorf("stream of job %s (%s) by %s: %w", jobID, r.Status, workerID, ErrNotOwner)
	}
	ttl := min(time.Until(r.CreatedAt.Add(r.Policy.TTL)), r.Policy.ExecutionTimeout+e.retention(r))
	msg := &nats.Msg{Subject: chunkPrefix + endpoint + "." + jobID, Data: output}
	if len(output) > inlineMax {
		ref, err := e.putBlob(ctx, blobPrefix+endpoint+"."+jobID+".chunk."+newID(false), output, ttl)
		if err != nil {
			return fmt.Errorf("stream of job %s: %w", jobID, err)
		}
		msg.Data, _ = json.Marshal(ref)
		msg.Header = nats.Header{blobHeader: []string{"1"}}
	}
	if _, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl.Round(time.Second)+time.Second)); err != nil {
		return fmt.Errorf("stream of job %s: %w", jobID, err)
	}
	e.nudge(nudgeJob + endpoint + "." + jobID)
	return nil
}

// blobHeader marks a chunk message whose data is a blobRef.
const blobHeader = "Sluice-Blob"

// signalStop queues a stop signal for the worker holding a job.
func (e *Engine) signalStop(ctx context.Context, ep, wid, id string) {
	if _, err := e.js.Publish(ctx, stopPrefix+ep+"."+token(wid), []byte(id)); err != nil {
		e.log.Warn("engine: stop signal", "job", id, "worker", wid, "err", err)
		return
	}
	e.nudge(nudgeStop + ep + "." + token(wid))
}

// StopSignals waits until ctx ends for stop signals for workerID and returns
// the ids of its jobs that were cancelled, timed out or taken away. Each
// signal is returned once.
func (e *Engine) StopSignals(ctx context.Context, endpoint, workerID string) ([]string, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	subj := stopPrefix + endpoint + "." + token(workerID)
	for {
		wake, done := e.nudges.wait(nudgeStop + endpoint + "." + token(workerID)) // before the read
		ids, err := e.stopSignalsOnce(ctx, subj, workerID, wake)
		done()
		if ids != nil || err != nil {
			return ids, err
		}
		if ctx.Err() != nil {
			return nil, nil
		}
	}
}

// stopSignalsOnce is one pass of StopSignals: it delivers the signals stored
// for the worker or waits for a nudge (nil, nil: look again or give up).
func (e *Engine) stopSignalsOnce(ctx context.Context, subj, workerID string, wake <-chan struct{}) ([]string, error) {
	{
		var ids []string
		seq := uint64(1)
		for len(ids) < 1000 {
			m, err := e.stops.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
			if err != nil {
				if isNotFound(err) || ctx.Err() != nil {
					break
				}
				return ids, fmt.Errorf("stop signals of %s: %w", workerID, err)
			}
			seq = m.Sequence + 1
			// Whoever deletes the signal delivers it: once, whichever replica serves the poll.
			if err := e.stops.DeleteMsg(context.WithoutCancel(ctx), m.Sequence); err == nil {
				ids = append(ids, string(m.Data))
			}
		}
		if len(ids) > 0 {
			return ids, nil
		}
		if err := e.sleep(ctx, wake); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
			return nil, nil
		}
		return nil, nil
	}
}
