package engine

import (
	"context"
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
		m, err := e.queue.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(queueSubject(endpoint, prioNormal)))
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
