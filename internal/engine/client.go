package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Submit stores a new job and queues it. It returns only once the job is
// durably stored and queued, so a returned id is never lost.
func (e *Engine) Submit(ctx context.Context, endpoint string, req SubmitRequest) (*Job, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	eps, err := e.endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if len(req.Input) == 0 {
		return nil, fmt.Errorf("submit: input is required: %w", ErrInvalid)
	}
	if len(req.Input) > maxInputBytes {
		return nil, fmt.Errorf("submit: input of %d bytes exceeds %d: %w", len(req.Input), maxInputBytes, ErrTooLarge)
	}
	extra := 0
	for k, v := range req.Extra {
		extra += len(k) + len(v)
	}
	if extra > inlineMax {
		return nil, fmt.Errorf("submit: request fields besides input take %d bytes, over %d: %w", extra, inlineMax, ErrTooLarge)
	}
	if len(req.Webhook) > 8<<10 {
		return nil, fmt.Errorf("submit: webhook URL of %d bytes: %w", len(req.Webhook), ErrInvalid)
	}
	now := time.Now().UTC()
	pol := req.Policy
	if pol.TTL <= 0 {
		pol.TTL = defaultTTL
	}
	if pol.ExecutionTimeout <= 0 {
		pol.ExecutionTimeout = eps.ExecutionTimeout
	}
	r := &record{
		Job: Job{
			ID: newID(req.Sync), Endpoint: endpoint, Status: StatusInQueue,
			Webhook: req.Webhook, Policy: pol, Sync: req.Sync, Extra: req.Extra, CreatedAt: now,
		},
		Epoch:     1,
		ExpireAt:  now.Add(pol.TTL),
		Retention: max(req.Retention, 0),
	}
	r.Input, r.InputRef, err = e.putValue(ctx, blobPrefix+endpoint+"."+r.ID+".in", req.Input, pol.TTL)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	if p := e.claimParked(endpoint); p != nil {
		return e.submitTo(ctx, r, req.Input, p)
	}
	// The record and the queue entry are sent at once and both awaited: one
	// round trip instead of two. An entry taken before its record is stored
	// is put back for a moment (see claim).
	rm, ropts, err := recordMsg(r, 0)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	qm, qopts := queueMsg(r)
	rf, err := e.js.PublishMsgAsync(rm, ropts...)
	if err != nil {
		return nil, fmt.Errorf("submit: store job %s: %w", r.ID, err)
	}
	qf, qerr := e.js.PublishMsgAsync(qm, qopts...)
	rack, rerr := awaitAck(ctx, rf)
	rev, rerr := writeResult(r, rack, rerr)
	if qerr == nil {
		_, qerr = awaitAck(ctx, qf)
	}
	if rerr != nil || qerr != nil {
		// The id was not returned; remove what was stored so nothing half-made stays.
		cctx := context.WithoutCancel(ctx)
		if perr := e.jobs.Purge(cctx, jetstream.WithPurgeSubject(jobSubject(endpoint, r.ID))); perr != nil {
			e.log.Warn("engine: remove unqueued job", "job", r.ID, "err", perr)
		}
		e.dequeue(cctx, endpoint, r.ID)
		if rerr != nil {
			return nil, fmt.Errorf("submit: %w", rerr)
		}
		return nil, fmt.Errorf("submit: enqueue job %s: %w", r.ID, qerr)
	}
	e.mem.stored(r, rev)
	e.nudge(nudgeQueue + endpoint)
	j := r.Job
	j.Input = req.Input
	return &j, nil
}

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

// sleep waits for a nudge, the re-check interval, ctx or Close. It returns
// ctx's error, ErrClosed, or nil.
func (e *Engine) sleep(ctx context.Context, c <-chan struct{}) error {
	_, err := e.sleepFor(ctx, c, recheck)
	return err
}

// sleepFor waits for a nudge on c (woke), d, ctx or Close.
func (e *Engine) sleepFor(ctx context.Context, c <-chan struct{}, d time.Duration) (woke bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-e.ctx.Done():
		return false, ErrClosed
	}
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
			r, rev, ok = e.mem.record(endpoint, id)
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

// ReadStream returns the stream chunks produced since the previous read of
// this job (by any replica), in order, each once. With none available it waits
// until ctx ends or the job is terminal, and then returns an empty list.
func (e *Engine) ReadStream(ctx context.Context, endpoint, id string) (*Job, []json.RawMessage, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, nil, err
	}
	if !tokenRE.MatchString(id) {
		return nil, nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	for {
		wake, done := e.nudges.wait(jobNudgeKey(endpoint, id)) // before the read
		j, chunks, again, err := e.readStreamOnce(ctx, endpoint, id, wake)
		done()
		if !again {
			return j, chunks, err
		}
	}
}

// readStreamOnce is one pass of ReadStream; again reports that the caller
// should look once more (woken, or a concurrent read raced this one).
func (e *Engine) readStreamOnce(ctx context.Context, endpoint, id string, wake <-chan struct{}) (_ *Job, _ []json.RawMessage, again bool, _ error) {
	{
		r, rev, err := e.load(ctx, endpoint, id)
		if err != nil {
			if ctx.Err() != nil {
				j, err := e.current(ctx, endpoint, id)
				return j, nil, false, err
			}
			return nil, nil, false, err
		}
		chunks, last, err := e.readChunks(ctx, endpoint, id, r.Cursor)
		if err != nil && ctx.Err() == nil {
			return nil, nil, false, err
		}
		if len(chunks) > 0 {
			r.Cursor = last
			nrev, err := e.write(ctx, r, rev)
			if err != nil {
				if errors.Is(err, errCAS) {
					return nil, nil, true, nil // another read or a state change raced us; read again
				}
				return nil, nil, false, err
			}
			e.mem.stored(r, nrev)
			j, err := e.toJob(ctx, r, false)
			return j, chunks, false, err
		}
		if r.Status.Terminal() {
			j, err := e.toJob(ctx, r, false)
			return j, nil, false, err
		}
		if err := e.sleep(ctx, wake); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, nil, false, err
			}
			j, err := e.current(ctx, endpoint, id)
			return j, nil, false, err
		}
		return nil, nil, true, nil
	}
}

const maxReadChunks = 1000

// readChunks reads the chunks of a job stored after sequence cursor, up to a
// bound, and returns them with the sequence of the last one.
func (e *Engine) readChunks(ctx context.Context, ep, id string, cursor uint64) ([]json.RawMessage, uint64, error) {
	var out []json.RawMessage
	size := 0
	seq := cursor + 1
	last := cursor
	for len(out) < maxReadChunks && size < 16<<20 {
		m, err := e.chunks.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(chunkPrefix+ep+"."+id))
		if err != nil {
			if isNotFound(err) {
				break
			}
			return out, last, fmt.Errorf("read stream of %s: %w", id, err)
		}
		data := m.Data
		if m.Header.Get(blobHeader) != "" {
			var ref blobRef
			if err := json.Unmarshal(m.Data, &ref); err != nil {
				return out, last, fmt.Errorf("read stream of %s: chunk reference: %w", id, err)
			}
			if data, err = e.getBlob(ctx, &ref); err != nil {
				return out, last, fmt.Errorf("read stream of %s: %w", id, err)
			}
		}
		out = append(out, json.RawMessage(data))
		size += len(data)
		last = m.Sequence
		seq = m.Sequence + 1
	}
	return out, last, nil
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
	if r.Webhook != "" {
		e.hooks.send(ctx, r)
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

// Purge cancels every IN_QUEUE job of the endpoint and returns how many.
func (e *Engine) Purge(ctx context.Context, endpoint string) (int, error) {
	return e.endQueued(ctx, endpoint, StatusCancelled, nil)
}

// endQueued moves every IN_QUEUE job of the endpoint to status with error
// errv and returns how many.
func (e *Engine) endQueued(ctx context.Context, endpoint string, status Status, errv json.RawMessage) (int, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return 0, err
	}
	n := 0
	seq := uint64(1)
	for range 10_000_000 {
		m, err := e.queue.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(queuePrefix+endpoint+".*.*"))
		if err != nil {
			if isNotFound(err) {
				break
			}
			return n, fmt.Errorf("purge %s: %w", endpoint, err)
		}
		seq = m.Sequence + 1
		id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		changed := false
		r, err := e.mutate(ctx, endpoint, id, func(r *record) error {
			changed = false
			if r.Status != StatusInQueue {
				return errNoop
			}
			e.terminate(r, status, time.Now().UTC())
			r.Error = errv
			changed = true
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return n, fmt.Errorf("purge %s: %w", endpoint, err)
		}
		if err := e.queue.DeleteMsg(ctx, m.Sequence); err != nil && !isNotFound(err) {
			e.log.Debug("engine: purge queue entry", "job", id, "err", err)
		}
		if changed {
			n++
			e.afterTerminal(ctx, r, StatusInQueue, "")
		}
	}
	return n, nil
}
