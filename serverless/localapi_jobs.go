package serverless

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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

	status   string
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

// snapshotLocked renders the job as /status does. Call with localAPI.mu held.
func (j *localJob) snapshotLocked() statusLine {
	s := statusLine{ID: j.id, Status: j.status}
	if !j.started.IsZero() {
		s.DelayTime = millis(j.started.Sub(j.submitted))
		end := j.finished
		if end.IsZero() {
			end = time.Now()
		}
		s.ExecutionTime = millis(end.Sub(j.started))
	}
	switch j.status {
	case statusCompleted, statusInProgress:
		s.Output = j.output
	case statusFailed, statusTimedOut:
		s.Error = j.errValue
	}
	return s
}

// streamSnapshotLocked renders the job as /stream does and drains the
// chunks it returns. Call with localAPI.mu held.
func (j *localJob) streamSnapshotLocked() streamLine {
	s := j.snapshotLocked()
	out := streamLine{ID: s.ID, Status: s.Status, DelayTime: s.DelayTime, ExecutionTime: s.ExecutionTime, Error: s.Error, Stream: []streamChunk{}}
	for _, c := range j.pending {
		out.Stream = append(out.Stream, streamChunk{Output: c})
	}
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
	j.status = statusInQueue
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
		if !isTerminal(j.status) || j.finished.IsZero() {
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

// execute runs one job through Exec and records its outcome.
func (a *localAPI) execute(ctx context.Context, j *localJob) {
	a.mu.Lock()
	if j.status != statusInQueue { // cancelled or purged while queued
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
	j.status, j.started, j.cancel = statusInProgress, time.Now(), cancel
	a.running++
	j.notifyLocked()
	a.mu.Unlock()
	a.log.Debug("Started.", LogKeyJobID, j.id)

	res, payload := execJob(jctx, a.cfg, j.job, execOptions{
		onChunk: func(_ context.Context, chunk json.RawMessage) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			if j.status == statusInProgress {
				j.pending = append(j.pending, chunk)
				j.notifyLocked()
			}
			return nil
		},
		onProgress: func(_ context.Context, progress json.RawMessage) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			if j.status == statusInProgress { // never move a finished job back
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
	if j.status != statusInProgress { // cancelled while running: result dropped
		a.mu.Unlock()
		return
	}
	j.finished = time.Now()
	switch {
	case errors.Is(jctx.Err(), context.DeadlineExceeded):
		j.status, j.output = statusTimedOut, nil
		j.errValue = mustJSON(fmt.Sprintf("job exceeded its execution timeout of %s", j.timeout))
	case res.Failed:
		j.status, j.output = statusFailed, nil
		j.errValue = jsonField(res.Body, "error")
	default:
		j.status, j.output = statusCompleted, res.Output
	}
	if res.Failed {
		a.log.Error("Failed with error: "+res.Error, LogKeyJobID, j.id)
	} else {
		a.log.Info("Finished: "+j.status, LogKeyJobID, j.id)
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
func (a *localAPI) cancelJob(id string) (statusLine, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.jobs[id]
	if !ok {
		return statusLine{}, false
	}
	if !isTerminal(j.status) {
		if j.cancel != nil {
			j.cancel()
		}
		j.status, j.output = statusCancelled, nil
		a.finishLocked(j)
		a.log.Info("Cancelled.", LogKeyJobID, id)
	}
	return statusLine{ID: j.id, Status: j.status}, true
}

var errNotRetryable = errors.New("only FAILED and TIMED_OUT jobs can be retried")

// retryJob puts a FAILED or TIMED_OUT job back in the queue under the same
// id, its old result cleared. It reports false when the job is unknown.
func (a *localAPI) retryJob(id string) (statusLine, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.jobs[id]
	if !ok {
		return statusLine{}, false, nil
	}
	if j.status != statusFailed && j.status != statusTimedOut {
		return statusLine{ID: j.id, Status: j.status}, true, fmt.Errorf("job %s is %s: %w", id, j.status, errNotRetryable)
	}
	select {
	case a.queue <- j:
	default:
		return statusLine{ID: j.id, Status: j.status}, true, errQueueFull
	}
	j.status, j.output, j.errValue, j.pending = statusInQueue, nil, nil, nil
	j.submitted, j.started, j.finished, j.cancel = time.Now(), time.Time{}, time.Time{}, nil
	j.notifyLocked()
	return statusLine{ID: j.id, Status: j.status}, true, nil
}

// purgeQueue forgets every job still waiting in the queue.
func (a *localAPI) purgeQueue() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for id, j := range a.jobs {
		if j.status == statusInQueue {
			j.status = statusCancelled // the runner skips it when dequeued
			j.notifyLocked()
			delete(a.jobs, id)
			n++
		}
	}
	return n
}

// health counts the jobs the server holds and its job slots.
func (a *localAPI) health() healthBody {
	a.mu.Lock()
	defer a.mu.Unlock()
	var h healthBody
	for _, j := range a.jobs {
		switch j.status {
		case statusInQueue:
			h.Jobs.InQueue++
		case statusInProgress:
			h.Jobs.InProgress++
		case statusCompleted:
			h.Jobs.Completed++
		case statusFailed, statusTimedOut:
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
