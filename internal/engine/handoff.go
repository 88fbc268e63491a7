package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Hand-off: a job submitted while a worker's Take is parked on this engine
// (the queue was empty when it looked) goes straight to that worker. Submit
// stores the job already IN_PROGRESS for the worker, with its lease, in one
// wait, and gives it to the parked Take: no queue entry, no fetch, no second
// record write. The job is as durable as a queued one when its id is
// returned, and the reaper treats it like any taken job. Takes parked on
// other replicas are reached through the queue as before.

// parkedTake is a Take waiting on this engine for a job.
type parkedTake struct {
	worker string
	// c receives exactly one value once a Submit has claimed this Take:
	// the job, or nil when the Submit failed.
	c chan *Job
}

// park registers a Take of worker wid that is about to wait for a job on ep.
func (e *Engine) park(ep, wid string) *parkedTake {
	p := &parkedTake{worker: wid, c: make(chan *Job, 1)}
	e.parkMu.Lock()
	e.parked[ep] = append(e.parked[ep], p)
	e.parkMu.Unlock()
	return p
}

// unpark withdraws p. If a Submit claimed it first, unpark waits for what
// that Submit hands over (a job, or nil if the Submit failed).
func (e *Engine) unpark(ep string, p *parkedTake) *Job {
	e.parkMu.Lock()
	l := e.parked[ep]
	if i := slices.Index(l, p); i >= 0 {
		if l = slices.Delete(l, i, i+1); len(l) == 0 {
			delete(e.parked, ep)
		} else {
			e.parked[ep] = l
		}
		e.parkMu.Unlock()
		return nil
	}
	e.parkMu.Unlock()
	return <-p.c
}

// claimParked withdraws the longest-parked Take of ep for a Submit, which
// must then send exactly one value on its channel; nil when none is parked.
func (e *Engine) claimParked(ep string) *parkedTake {
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	l := e.parked[ep]
	if len(l) == 0 {
		return nil
	}
	p := l[0]
	if l = slices.Delete(l, 0, 1); len(l) == 0 {
		delete(e.parked, ep)
	} else {
		e.parked[ep] = l
	}
	return p
}

// submitTo stores new job r as IN_PROGRESS for the parked Take p, with its
// lease, and hands it over (full input); it always answers p. On failure
// nothing of the job stays stored.
func (e *Engine) submitTo(ctx context.Context, r *record, input json.RawMessage, p *parkedTake) (*Job, error) {
	var handed *Job
	defer func() { p.c <- handed }()
	now := time.Now().UTC()
	r.Status = StatusInProgress
	r.Owner, r.WorkerID = p.worker, p.worker
	r.StartedAt = now
	r.Deadline = now.Add(r.Policy.ExecutionTimeout)
	l := lease{Epoch: r.Epoch, Worker: p.worker, At: now, Deadline: r.Deadline, Expire: r.CreatedAt.Add(r.Policy.TTL)}
	rev, err := e.claimWrite(ctx, r, 0, l)
	if err != nil {
		cctx := context.WithoutCancel(ctx)
		if perr := e.jobs.Purge(cctx, jetstream.WithPurgeSubject(jobSubject(r.Endpoint, r.ID))); perr != nil {
			e.log.Warn("engine: remove job not handed over", attrEndpoint, r.Endpoint, attrJob, r.ID, attrWorker, p.worker, attrErr, perr)
		}
		e.dropLease(cctx, r.Endpoint, r.ID, r.Epoch)
		e.mem.forget(r.Endpoint, r.ID)
		return nil, fmt.Errorf("submit: hand job %s to worker %s: %w", r.ID, p.worker, err)
	}
	e.mem.stored(r, rev)
	j := r.Job
	j.Input = input
	handed = &j
	out := j
	return &out, nil
}
