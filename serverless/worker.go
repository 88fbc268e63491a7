package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// concurrencyRecheck is how often the take loop asks ConcurrencyModifier
// again while every slot is busy and no job finishes. A variable so tests
// can shorten it.
var concurrencyRecheck = time.Second

// worker is the production loop (docs/spec/runpod-worker-protocol.md 1, 2): it takes jobs, runs each in
// its own goroutine, posts results, and keeps the heartbeat and the
// job-stop poll going until every job is done.
type worker struct {
	cfg      *Config
	log      *slog.Logger
	p        *platform
	isStream bool

	mu     sync.Mutex
	active map[string]*activeJob // in-progress set: taken and not yet finished

	jobDone    chan struct{}      // 1-buffered: a job left the in-progress set
	stopTaking context.CancelFunc // ends the take loop (shutdown, RefreshWorker)
	jobs       sync.WaitGroup
}

// activeJob is one job in the in-progress set.
type activeJob struct {
	job     *Job
	cancel  context.CancelFunc // cancels the job's ctx and its posts
	stopped atomic.Bool        // the platform stopped it: post no result
}

// runWorker runs the production worker until ctx is cancelled (then it
// stops taking jobs, lets running ones finish and posts their results) or,
// with cfg.RefreshWorker, until the first job's result is posted. Jobs run
// under jobsCtx: cancelling it cancels every running job's ctx.
func runWorker(ctx, jobsCtx context.Context, cfg *Config, log *slog.Logger, env workerEnv) error {
	if err := env.validate(cfg.StreamHandler != nil); err != nil {
		return err
	}
	p := newPlatform(env, log)
	defer p.close()
	takeCtx, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	w := &worker{
		cfg:        cfg,
		log:        log,
		p:          p,
		isStream:   cfg.StreamHandler != nil,
		active:     map[string]*activeJob{},
		jobDone:    make(chan struct{}, 1),
		stopTaking: stopTaking,
	}

	// The heartbeat and the stop poll outlive the take loop: they run until
	// the last job is done.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	if ok, why := env.pingEnabled(); ok {
		background.Go(func() { p.heartbeat(bgCtx, w.inProgressIDs) })
	} else {
		log.Info("Not sending heartbeats: " + why + ".")
	}
	if stopURL, ok := env.stopURL(); ok {
		background.Go(func() { w.watchStops(bgCtx, stopURL) })
	} else {
		log.Warn("Job-stop channel disabled: RUNPOD_WEBHOOK_GET_JOB has no /job-take/.")
	}

	w.takeLoop(takeCtx, jobsCtx)
	if ctx.Err() != nil {
		log.Info("Shutting down: finishing the jobs in progress.")
	}
	w.jobs.Wait()
	stopBackground()
	background.Wait()
	log.Info("Worker stopped.")
	return nil
}

// takeLoop takes jobs while takeCtx lives, keeping at most
// ConcurrencyModifier(current) of them in progress (docs/spec/runpod-worker-protocol.md 2.6). Jobs run
// under runCtx.
func (w *worker) takeLoop(takeCtx, runCtx context.Context) {
	current := 1
	for takeCtx.Err() == nil {
		if w.cfg.ConcurrencyModifier != nil {
			current = max(1, w.cfg.ConcurrencyModifier(current))
		}
		busy := w.count()
		need := current - busy
		if need <= 0 {
			select {
			case <-w.jobDone:
			case <-takeCtx.Done():
			case <-time.After(concurrencyRecheck):
			}
			continue
		}
		jobs, bad, err := w.p.take(takeCtx, need, busy > 0)
		if bad != nil {
			w.log.Error("Invalid job(s) in the job-take response, skipped: " + bad.Error())
		}
		for _, job := range jobs {
			w.start(runCtx, job)
		}
		switch {
		case takeCtx.Err() != nil:
		case errors.Is(err, errTooManyRequests):
			w.log.Debug(fmt.Sprintf("Too many requests, backing off for %s.", tooManyRequestsBackoff))
			_ = sleepCtx(takeCtx, tooManyRequestsBackoff)
		case err != nil:
			w.log.Error(fmt.Sprintf("Failed to get job. | Error Type: %T | Error Message: %v", errors.Unwrap(err), err))
			_ = sleepCtx(takeCtx, takeErrorPause)
		}
	}
}

// start adds job to the in-progress set and runs it in a goroutine.
func (w *worker) start(runCtx context.Context, job *Job) {
	w.mu.Lock()
	if _, dup := w.active[job.ID]; dup {
		w.mu.Unlock()
		w.log.Warn("Job already in progress, ignoring the duplicate.", LogKeyJobID, job.ID)
		return
	}
	jobCtx, cancelJob := context.WithCancel(runCtx)
	// Posts survive the worker's shutdown (results must reach the
	// platform) but not a job-stop.
	postCtx, cancelPosts := context.WithCancel(context.WithoutCancel(runCtx))
	a := &activeJob{job: job, cancel: func() { cancelJob(); cancelPosts() }}
	w.active[job.ID] = a
	w.mu.Unlock()
	w.jobs.Go(func() { w.handle(jobCtx, postCtx, a) })
}

// handle runs one job and posts its result (docs/spec/runpod-worker-protocol.md 1.5), unless the platform
// stopped it.
func (w *worker) handle(jobCtx, postCtx context.Context, a *activeJob) {
	job := a.job
	defer w.finish(a)
	log := w.log.With(LogKeyJobID, job.ID)
	if raw, ok := job.Field("batchId"); ok {
		var batch string
		if json.Unmarshal(raw, &batch) == nil && batch != "" {
			log = log.With(LogKeyBatchID, batch)
		}
	}
	if w.cfg.RefreshWorker {
		// After the post, and also when the platform stopped the job.
		defer func() {
			log.Info("RefreshWorker is set: the worker exits after this job.")
			w.stopTaking()
		}()
	}
	log.Info("Started.")
	sink := &postSink{p: w.p, jobID: job.ID, postCtx: postCtx, log: log}
	o := runJob(jobCtx, w.cfg, job, sink)
	sink.close() // waits for a progress post in flight
	if a.stopped.Load() {
		log.Info("Job stopped.")
		return
	}
	if o.payload != nil {
		log.Error("Captured Handler Exception")
		log.Error(o.payload.indented())
	} else if o.cause != nil {
		log.Error("Job failed: " + o.cause.Error())
	}
	err := w.p.postJSON(postCtx, w.p.env.jobDoneURL(job.ID, w.isStream), job.ID, o.body, postRetryFor)
	switch {
	case a.stopped.Load():
		log.Info("Job stopped.")
		return
	case err != nil:
		log.Error("Failed to return job results. | " + err.Error())
	}
	log.Info("Finished.")
}

// finish removes a from the in-progress set and wakes the take loop.
func (w *worker) finish(a *activeJob) {
	a.cancel()
	w.mu.Lock()
	delete(w.active, a.job.ID)
	w.mu.Unlock()
	select {
	case w.jobDone <- struct{}{}:
	default:
	}
}

// count is the size of the in-progress set.
func (w *worker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.active)
}

// inProgressIDs lists the in-progress job ids, sorted.
func (w *worker) inProgressIDs() []string {
	w.mu.Lock()
	ids := make([]string, 0, len(w.active))
	for id := range w.active {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// stopJob cancels a running job at the platform's request (docs/spec/runpod-worker-protocol.md 2.7); its
// result is not posted.
func (w *worker) stopJob(id string) {
	w.mu.Lock()
	a := w.active[id]
	w.mu.Unlock()
	if a == nil {
		w.log.Debug("Stop requested for a job that is not running.", LogKeyJobID, id)
		return
	}
	w.log.Info("Stop requested by the platform.", LogKeyJobID, id)
	a.stopped.Store(true)
	a.cancel()
}

// watchStops long-polls job-stop until ctx is done (docs/spec/runpod-worker-protocol.md 1.8).
func (w *worker) watchStops(ctx context.Context, url string) {
	for ctx.Err() == nil {
		ids, err := w.p.pollStops(ctx, url)
		for _, id := range ids {
			w.stopJob(id)
		}
		pause := time.Duration(0)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errTooManyRequests):
			pause = tooManyRequestsBackoff
		case err != nil:
			w.log.Warn("Job-stop poll failed. | " + err.Error())
			pause = stopPollPause
		case len(ids) == 0:
			pause = stopPollPause
		}
		_ = sleepCtx(ctx, pause)
	}
}
