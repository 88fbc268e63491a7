package serverless

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// localJob is one job held by the local API server. Every field below the
// immutable ones is guarded by localAPI.mu.
type localJob struct {
	id        string
	job       *Job
	webhook   string
	timeout   time.Duration // policy.executionTimeout; 0 means none
	sync      bool          // submitted with /runsync
	submitted time.Time

	status   wire.Status
	started  time.Time
	finished time.Time
	output   json.RawMessage // final output, or the latest progress while running
	errValue json.RawMessage // the "error" value of a failed job
	pending  []json.RawMessage
	cancel   context.CancelFunc
	// changed is closed and replaced whenever anything above changes.
	changed chan struct{}
}

// notifyLocked wakes everyone waiting on the job. Call with localAPI.mu held.
func (j *localJob) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// snapshotLocked renders the job as /status does (wire.View): output while
// IN_PROGRESS or COMPLETED, the error once FAILED or TIMED_OUT. Call with
// localAPI.mu held.
func (j *localJob) snapshotLocked() wire.JobView {
	return wire.View(j.wireLocked())
}

// wireLocked is the job's facts as its views render them. Call with
// localAPI.mu held.
func (j *localJob) wireLocked() *wire.Job {
	w := &wire.Job{ID: j.id, Status: j.status, CreatedAt: j.submitted, StartedAt: j.started, FinishedAt: j.finished}
	switch j.status {
	case wire.StatusCompleted, wire.StatusInProgress:
		w.Output = j.output
	case wire.StatusFailed, wire.StatusTimedOut:
		w.Error = j.errValue
	}
	return w
}

// streamSnapshotLocked renders the job as /stream does (wire.Stream) and
// drains the chunks it returns. Call with localAPI.mu held.
func (j *localJob) streamSnapshotLocked() wire.StreamView {
	out := wire.Stream(j.wireLocked(), j.pending)
	j.pending = nil
	return out
}

func millis(d time.Duration) *int64 {
	ms := d.Milliseconds()
	return &ms
}

// newJobID returns a random id shaped like Runpod's (a UUID and a suffix).
func newJobID(sync bool) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x-local", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	if sync {
		return "sync-" + id
	}
	return id
}

var errQueueFull = errors.New("queue is full")

// submit stores a new job and queues it.
func (a *localAPI) submit(j *localJob) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(time.Now())
	j.status = wire.StatusInQueue
	j.changed = make(chan struct{})
	select {
	case a.queue <- j:
	default:
		return errQueueFull
	}
	a.jobs[j.id] = j
	return nil
}

// sweepLocked forgets finished jobs whose retention has passed, so memory
// does not grow with history. It scans at most once per a.sweepEvery. Call
// with a.mu held.
func (a *localAPI) sweepLocked(now time.Time) {
	if now.Sub(a.lastSweep) < a.sweepEvery {
		return
	}
	a.lastSweep = now
	for id, j := range a.jobs {
		if !j.status.Terminal() || j.finished.IsZero() {
			continue
		}
		keep := a.retention
		if j.sync {
			keep = a.syncRetention
		}
		if now.Sub(j.finished) > keep {
			delete(a.jobs, id)
		}
	}
}

// runner takes queued jobs and runs them one at a time until ctx ends.
func (a *localAPI) runner(ctx context.Context) {
	defer a.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-a.queue:
			a.execute(ctx, j)
		}
	}
}

// execute runs one job through execJob and records its outcome.
func (a *localAPI) execute(ctx context.Context, j *localJob) {
	a.mu.Lock()
	if j.status != wire.StatusInQueue { // cancelled or purged while queued
		a.mu.Unlock()
		return
	}
	var (
		jctx   context.Context
		cancel context.CancelFunc
	)
	if j.timeout > 0 {
		jctx, cancel = context.WithTimeout(ctx, j.timeout)
	} else {
		jctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	j.status, j.started, j.cancel = wire.StatusInProgress, time.Now(), cancel
	a.running++
	j.notifyLocked()
	a.mu.Unlock()
	a.log.Debug("Started.", LogKeyJobID, j.id)

	res, payload := execJob(jctx, a.cfg, j.job, execOptions{
		OnChunk: func(_ context.Context, chunk json.RawMessage) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			if j.status == wire.StatusInProgress {
				j.pending = append(j.pending, chunk)
				j.notifyLocked()
			}
			return nil
		},
		OnProgress: func(_ context.Context, progress json.RawMessage) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			if j.status == wire.StatusInProgress { // never move a finished job back
				j.output = progress
				j.notifyLocked()
			}
			return nil
		},
	})
	if payload != nil {
		a.log.Error("Captured Handler Exception\n"+payload.indented(), LogKeyJobID, j.id)
	}

	a.mu.Lock()
	a.running--
	if j.status != wire.StatusInProgress { // cancelled while running: result dropped
		a.mu.Unlock()
		return
	}
	j.finished = time.Now()
	switch {
	case errors.Is(jctx.Err(), context.DeadlineExceeded):
		j.status, j.output = wire.StatusTimedOut, nil
		j.errValue = mustJSON(fmt.Sprintf("job exceeded its execution timeout of %s", j.timeout))
	case res.Failed:
		j.status, j.output = wire.StatusFailed, nil
		j.errValue = jsonField(res.Body, "error")
	default:
		j.status, j.output = wire.StatusCompleted, res.Output
	}
	if res.Failed {
		a.log.Error("Failed with error: "+res.Error, LogKeyJobID, j.id)
	} else {
		a.log.Info("Finished: "+string(j.status), LogKeyJobID, j.id)
	}
	a.finishLocked(j)
	a.mu.Unlock()
}

// finishLocked wakes the job's waiters and sends its webhook, once the job
// has reached a terminal state. Call with a.mu held.
func (a *localAPI) finishLocked(j *localJob) {
	if j.finished.IsZero() {
		j.finished = time.Now()
	}
	j.notifyLocked()
	if j.webhook == "" {
		return
	}
	body, err := marshal(j.snapshotLocked())
	if err != nil {
		a.log.Error("Webhook: encode: "+err.Error(), LogKeyJobID, j.id)
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.sendWebhook(a.lifetime, j.webhook, body); err != nil {
			a.log.Warn("Webhook: "+err.Error(), LogKeyJobID, j.id)
		}
	}()
}

// cancelJob moves a queued or running job to CANCELLED. It reports false
// when the job is unknown.
func (a *localAPI) cancelJob(id string) (wire.JobView, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.jobs[id]
	if !ok {
		return wire.JobView{}, false
	}
	if !j.status.Terminal() {
		if j.cancel != nil {
			j.cancel()
		}
		j.status, j.output = wire.StatusCancelled, nil
		a.finishLocked(j)
		a.log.Info("Cancelled.", LogKeyJobID, id)
	}
	return wire.JobView{ID: j.id, Status: j.status}, true
}

var errNotRetryable = errors.New("only FAILED and TIMED_OUT jobs can be retried")

// retryJob puts a FAILED or TIMED_OUT job back in the queue under the same
// id, its old result cleared. It reports false when the job is unknown.
func (a *localAPI) retryJob(id string) (wire.JobView, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.jobs[id]
	if !ok {
		return wire.JobView{}, false, nil
	}
	if j.status != wire.StatusFailed && j.status != wire.StatusTimedOut {
		return wire.JobView{ID: j.id, Status: j.status}, true, fmt.Errorf("job %s is %s: %w", id, j.status, errNotRetryable)
	}
	select {
	case a.queue <- j:
	default:
		return wire.JobView{ID: j.id, Status: j.status}, true, errQueueFull
	}
	j.status, j.output, j.errValue, j.pending = wire.StatusInQueue, nil, nil, nil
	j.submitted, j.started, j.finished, j.cancel = time.Now(), time.Time{}, time.Time{}, nil
	j.notifyLocked()
	return wire.JobView{ID: j.id, Status: j.status}, true, nil
}

// purgeQueue forgets every job still waiting in the queue.
func (a *localAPI) purgeQueue() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for id, j := range a.jobs {
		if j.status == wire.StatusInQueue {
			j.status = wire.StatusCancelled // the runner skips it when dequeued
			j.notifyLocked()
			delete(a.jobs, id)
			n++
		}
	}
	return n
}

// health counts the jobs the server holds and its job slots.
func (a *localAPI) health() wire.Health {
	a.mu.Lock()
	defer a.mu.Unlock()
	var h wire.Health
	for _, j := range a.jobs {
		switch j.status {
		case wire.StatusInQueue:
			h.Jobs.InQueue++
		case wire.StatusInProgress:
			h.Jobs.InProgress++
		case wire.StatusCompleted:
			h.Jobs.Completed++
		case wire.StatusFailed, wire.StatusTimedOut:
			h.Jobs.Failed++
		}
	}
	h.Workers.Running = a.running
	h.Workers.Idle = a.concurrency - a.running
	h.Workers.Ready = h.Workers.Idle
	return h
}

// lookup returns the job with id, or nil.
func (a *localAPI) lookup(id string) *localJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.jobs[id]
}

// waitFor waits until done(j) holds, ctx ends or wait passes, then returns
// done's final verdict. done is called with a.mu held.
func (a *localAPI) waitFor(ctx context.Context, j *localJob, wait time.Duration, done func(*localJob) bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		a.mu.Lock()
		ok, changed := done(j), j.changed
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		case <-a.lifetime.Done():
			return
		}
	}
}

func mustJSON(s string) json.RawMessage {
	data, _ := marshal(s) // a string always encodes
	return data
}
