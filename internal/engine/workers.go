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

// workerRec is a worker's liveness entry.
type workerRec struct {
	ID       string    `json:"id"`
	LastSeen time.Time `json:"lastSeen"`
	Jobs     []string  `json:"jobs,omitempty"` // from its last ping
}

// Workers returns the live workers of an endpoint (seen by a take or ping
// within WorkerLostAfter) with the jobs they hold.
func (e *Engine) Workers(ctx context.Context, endpoint string) ([]Worker, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, err
	}
	leases, err := e.leaseKeys(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	return e.liveWorkers(ctx, endpoint, leases)
}

// liveWorkers is Workers with the endpoint's leases already listed.
func (e *Engine) liveWorkers(ctx context.Context, endpoint string, leases []string) ([]Worker, error) {
	keys, err := subjectKeys(ctx, e.workerStr, "$KV."+workerBucket+".", endpoint+".*")
	if err != nil {
		return nil, err
	}
	byID := map[string]*Worker{}
	var out []Worker
	reported := map[string][]string{} // worker -> jobs its last ping reported
	for _, k := range keys {
		ent, err := e.workers.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		var w workerRec
		if json.Unmarshal(ent.Value(), &w) != nil || time.Since(w.LastSeen) > e.cfg.WorkerLostAfter {
			continue
		}
		out = append(out, Worker{ID: w.ID, Endpoint: endpoint, LastSeen: w.LastSeen, Jobs: []string{}})
		reported[w.ID] = w.Jobs
	}
	if len(out) == 0 {
		return out, nil // no live worker to give jobs to: no record to read
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	for _, k := range leases {
		id := k[strings.LastIndexByte(k, '.')+1:]
		r, _, err := e.load(ctx, endpoint, id)
		if err != nil || r.Status != StatusInProgress {
			continue
		}
		if w := byID[r.Owner]; w != nil {
			w.Jobs = append(w.Jobs, id)
		}
	}
	for i := range out {
		out[i].Stopping = e.stoppedJobs(ctx, endpoint, out[i].ID, reported[out[i].ID], out[i].Jobs)
	}
	return out, nil
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

// signalStop queues a stop signal for the worker holding a job.
func (e *Engine) signalStop(ctx context.Context, ep, wid, id string) {
	e.markStopping(ctx, ep, wid, id)
	if _, err := e.js.Publish(ctx, stopPrefix+ep+"."+token(wid), []byte(id)); err != nil {
		e.log.Warn("engine: stop signal", attrEndpoint, ep, attrJob, id, attrWorker, wid, attrErr, err)
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
