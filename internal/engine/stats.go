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

// Health returns the endpoint's job counters (completed, failed and retried
// over the last Retention) and worker counters.
func (e *Engine) Health(ctx context.Context, endpoint string) (Health, error) {
	var h Health
	if _, err := e.endpoint(endpoint); err != nil {
		return h, err
	}
	// One listing of the leases serves both the counts and the workers.
	leases, err := e.leaseKeys(ctx, endpoint)
	if err != nil {
		return h, err
	}
	qs, err := e.queueStats(ctx, endpoint, leases)
	if err != nil {
		return h, err
	}
	h.Jobs.InQueue = qs.Queued + qs.QueuedLow
	h.Jobs.InProgress = qs.InProgress
	info, err := e.events.Info(ctx, jetstream.WithSubjectFilter(eventPrefix+endpoint+".>"))
	if err != nil {
		return h, fmt.Errorf("health %s: %w", endpoint, err)
	}
	for subj, n := range info.State.Subjects {
		switch subj[strings.LastIndexByte(subj, '.')+1:] {
		case "completed":
			h.Jobs.Completed = int(n)
		case "failed":
			h.Jobs.Failed = int(n)
		case "retried":
			h.Jobs.Retried = int(n)
		}
	}
	ws, err := e.liveWorkers(ctx, endpoint, leases)
	if err != nil {
		return h, err
	}
	for _, w := range ws {
		if len(w.Jobs) > 0 || len(w.Stopping) > 0 {
			h.Workers.Running++
		} else {
			h.Workers.Idle++
			h.Workers.Ready++
		}
	}
	return h, nil
}

// QueueStats returns the queue figures of an endpoint.
func (e *Engine) QueueStats(ctx context.Context, endpoint string) (QueueStats, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return QueueStats{}, err
	}
	leases, err := e.leaseKeys(ctx, endpoint)
	if err != nil {
		return QueueStats{}, err
	}
	return e.queueStats(ctx, endpoint, leases)
}

// queueStats is QueueStats with the endpoint's leases already listed.
func (e *Engine) queueStats(ctx context.Context, endpoint string, leases []string) (QueueStats, error) {
	var qs QueueStats
	var ni, li *jetstream.ConsumerInfo
	for attempt := 0; ; attempt++ {
		c, err := e.consumersFor(ctx, endpoint)
		if err != nil {
			return qs, err
		}
		if ni, err = c.normal.Info(ctx); err == nil {
			li, err = c.low.Info(ctx)
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) && attempt == 0 {
			e.forgetConsumers(endpoint) // deleted from outside: create it again
			continue
		}
		if err != nil {
			return qs, fmt.Errorf("queue stats %s: %w", endpoint, err)
		}
		break
	}
	qs.Queued = int(ni.NumPending) + ni.NumAckPending
	qs.QueuedLow = int(li.NumPending) + li.NumAckPending
	if qs.Queued > 0 {
		m, err := e.queue.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(queuePrefix+endpoint+"."+prioNormal+".*"))
		if err == nil {
			qs.OldestQueuedAge = max(time.Since(m.Time), 0)
		} else if !isNotFound(err) {
			return qs, fmt.Errorf("queue stats %s: %w", endpoint, err)
		}
	}
	qs.InProgress = len(leases)
	return qs, nil
}

// subjectKeys lists the live subjects of stream s under prefix matching
// filter, without the prefix, from the stream's subject counts: no consumer
// is created, and subjects removed by purge (which leaves no marker) or by
// age are gone.
func subjectKeys(ctx context.Context, s jetstream.Stream, prefix, filter string) ([]string, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+filter))
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", prefix, filter, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	return keys, nil
}

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
