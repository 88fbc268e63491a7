package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Keep the jobs its last ping reported: a take does not say which jobs
	// still run (stoppedJobs reads them).
	var jobs []string
	if ent, err := e.workers.Get(ctx, k); err == nil {
		var w workerRec
		if json.Unmarshal(ent.Value(), &w) == nil {
			jobs = w.Jobs
		}
	}
	if err := e.touch(ctx, ep, wid, jobs); err != nil {
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
	e.markStopping(ctx, ep, wid, id)
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
