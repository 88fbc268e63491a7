package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// fakeEngine is an in-memory stand-in for *engine.Engine with the same
// observable contract, for handler tests that must not depend on timing.
// Times are fixed so that response bodies can be compared to golden files.
type fakeEngine struct {
	mu        sync.Mutex
	endpoints map[string]bool
	jobs      map[string]*engine.Job
	queue     []string
	chunks    map[string][]json.RawMessage
	stops     map[string][]string // worker -> job ids to stop
	pings     map[string][]string // worker -> last ping's ids
	submits   []engine.SubmitRequest
	results   map[string]engine.Result
	progress  map[string][]json.RawMessage
	seq       int
	changed   chan struct{}
	submitErr error // returned by Submit when set
}

var _ Engine = (*fakeEngine)(nil)

var fakeEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFakeEngine(endpoints ...string) *fakeEngine {
	f := &fakeEngine{
		endpoints: map[string]bool{}, jobs: map[string]*engine.Job{}, chunks: map[string][]json.RawMessage{},
		stops: map[string][]string{}, pings: map[string][]string{}, results: map[string]engine.Result{},
		progress: map[string][]json.RawMessage{}, changed: make(chan struct{}),
	}
	for _, e := range endpoints {
		f.endpoints[e] = true
	}
	return f
}

// notify wakes every waiter; call with mu held.
func (f *fakeEngine) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// await blocks until cond (called with mu held) is true or ctx ends.
func (f *fakeEngine) await(ctx context.Context, cond func() bool) bool {
	for {
		f.mu.Lock()
		if cond() {
			f.mu.Unlock()
			return true
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (f *fakeEngine) copyJob(j *engine.Job) *engine.Job {
	c := *j
	return &c
}

func (f *fakeEngine) Endpoint(id string) (engine.EndpointSettings, bool) {
	return engine.EndpointSettings{ID: id}, f.endpoints[id]
}

func (f *fakeEngine) lookup(endpoint, id string) (*engine.Job, error) {
	j, ok := f.jobs[id]
	if !ok || j.Endpoint != endpoint {
		return nil, fmt.Errorf("job %s: %w", id, engine.ErrNotFound)
	}
	return j, nil
}

func (f *fakeEngine) Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	f.seq++
	id := fmt.Sprintf("job-%d", f.seq)
	if req.Sync {
		id = "sync-" + id
	}
	j := &engine.Job{ID: id, Endpoint: endpoint, Status: engine.StatusInQueue, Input: req.Input, Webhook: req.Webhook,
		Policy: req.Policy, Sync: req.Sync, Extra: req.Extra, CreatedAt: fakeEpoch}
	f.jobs[id] = j
	f.queue = append(f.queue, id)
	f.submits = append(f.submits, req)
	f.notify()
	return f.copyJob(j), nil
}

func (f *fakeEngine) Get(ctx context.Context, endpoint, id string) (*engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.lookup(endpoint, id)
	if err != nil {
		return nil, err
	}
	return f.copyJob(j), nil
}

func (f *fakeEngine) Wait(ctx context.Context, endpoint, id string) (*engine.Job, error) {
	var err error
	f.await(ctx, func() bool {
		j, lerr := f.lookup(endpoint, id)
		err = lerr
		return lerr != nil || j.Status.Terminal()
	})
	if err != nil {
		return nil, err
	}
	return f.Get(context.Background(), endpoint, id)
}

func (f *fakeEngine) ReadStream(ctx context.Context, endpoint, id string) (*engine.Job, []json.RawMessage, error) {
	var err error
	f.await(ctx, func() bool {
		j, lerr := f.lookup(endpoint, id)
		err = lerr
		return lerr != nil || j.Status.Terminal() || len(f.chunks[id]) > 0
	})
	if err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.lookup(endpoint, id)
	if err != nil {
		return nil, nil, err
	}
	c := f.chunks[id]
	delete(f.chunks, id)
	return f.copyJob(j), c, nil
}

func (f *fakeEngine) Cancel(ctx context.Context, endpoint, id string) (*engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.lookup(endpoint, id)
	if err != nil {
		return nil, err
	}
	if j.Status.Terminal() {
		return nil, fmt.Errorf("cancel %s: %w", id, engine.ErrConflict)
	}
	if j.Status == engine.StatusInProgress {
		f.stops[j.WorkerID] = append(f.stops[j.WorkerID], id)
	}
	f.queue = slices.DeleteFunc(f.queue, func(q string) bool { return q == id })
	j.Status = engine.StatusCancelled
	f.notify()
	return f.copyJob(j), nil
}

func (f *fakeEngine) Retry(ctx context.Context, endpoint, id string) (*engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.lookup(endpoint, id)
	if err != nil {
		return nil, err
	}
	if j.Status != engine.StatusFailed && j.Status != engine.StatusTimedOut {
		return nil, fmt.Errorf("retry %s: %w", id, engine.ErrConflict)
	}
	j.Status, j.Output, j.Error, j.WorkerID = engine.StatusInQueue, nil, nil, ""
	j.StartedAt, j.FinishedAt = time.Time{}, time.Time{}
	f.queue = append(f.queue, id)
	f.notify()
	return f.copyJob(j), nil
}

func (f *fakeEngine) Purge(ctx context.Context, endpoint string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	f.queue = slices.DeleteFunc(f.queue, func(id string) bool {
		if f.jobs[id].Endpoint != endpoint {
			return false
		}
		f.jobs[id].Status = engine.StatusCancelled
		n++
		return true
	})
	f.notify()
	return n, nil
}

func (f *fakeEngine) Health(ctx context.Context, endpoint string) (engine.Health, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var h engine.Health
	for _, j := range f.jobs {
		if j.Endpoint != endpoint {
			continue
		}
		switch j.Status {
		case engine.StatusCompleted:
			h.Jobs.Completed++
		case engine.StatusFailed:
			h.Jobs.Failed++
		case engine.StatusInProgress:
			h.Jobs.InProgress++
		case engine.StatusInQueue:
			h.Jobs.InQueue++
		}
	}
	h.Workers.Idle = len(f.pings)
	return h, nil
}

func (f *fakeEngine) Release(ctx context.Context, endpoint, workerID string, jobIDs []string) error {
	return nil
}

func (f *fakeEngine) Take(ctx context.Context, endpoint, workerID string, n int) ([]*engine.Job, error) {
	var out []*engine.Job
	f.await(ctx, func() bool {
		for i := 0; i < len(f.queue) && len(out) < n; {
			j := f.jobs[f.queue[i]]
			if j.Endpoint != endpoint {
				i++
				continue
			}
			f.queue = slices.Delete(f.queue, i, i+1)
			j.Status, j.WorkerID = engine.StatusInProgress, workerID
			j.StartedAt = j.CreatedAt.Add(250 * time.Millisecond)
			out = append(out, f.copyJob(j))
		}
		if len(out) > 0 {
			f.notify()
		}
		return len(out) > 0
	})
	return out, nil
}

// owned returns the job workerID holds; call with mu held.
func (f *fakeEngine) owned(endpoint, workerID, jobID string) (*engine.Job, error) {
	j, err := f.lookup(endpoint, jobID)
	if err != nil {
		return nil, err
	}
	if j.Status != engine.StatusInProgress || j.WorkerID != workerID {
		return nil, fmt.Errorf("job %s: %w", jobID, engine.ErrNotOwner)
	}
	return j, nil
}

func (f *fakeEngine) Finish(ctx context.Context, endpoint, workerID, jobID string, r engine.Result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.owned(endpoint, workerID, jobID)
	if err != nil {
		return err
	}
	f.results[jobID] = r
	j.Status, j.Output, j.Error, j.IsStream = engine.StatusCompleted, r.Output, r.Error, r.IsStream
	if len(r.Error) > 0 {
		j.Status = engine.StatusFailed
	}
	j.FinishedAt = j.StartedAt.Add(1500 * time.Millisecond)
	f.notify()
	return nil
}

func (f *fakeEngine) Progress(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.owned(endpoint, workerID, jobID)
	if err != nil {
		return err
	}
	j.Output = output
	f.progress[jobID] = append(f.progress[jobID], output)
	f.notify()
	return nil
}

func (f *fakeEngine) AppendStream(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.owned(endpoint, workerID, jobID); err != nil {
		return err
	}
	f.chunks[jobID] = append(f.chunks[jobID], output)
	f.notify()
	return nil
}

func (f *fakeEngine) Ping(ctx context.Context, endpoint, workerID string, jobIDs []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings[workerID] = jobIDs
	f.notify()
	return nil
}

func (f *fakeEngine) StopSignals(ctx context.Context, endpoint, workerID string) ([]string, error) {
	var out []string
	f.await(ctx, func() bool {
		out = f.stops[workerID]
		delete(f.stops, workerID)
		return len(out) > 0
	})
	return out, nil
}
