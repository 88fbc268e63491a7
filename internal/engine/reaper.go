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

// leaseGrace is how long a lease may point to a job that is not (yet)
// IN_PROGRESS before the reaper removes it: a take in flight writes the lease
// just before it moves the job.
const leaseGrace = 10 * time.Second

// leaseCheck: the reaper checks a healthy-looking lease against its job
// record at least this often, so a lease left behind by a failed clean-up is
// removed.
const leaseCheck = time.Minute

// reaper runs the time-based transitions: execution timeouts and lost
// workers. Every replica runs one; each transition is a compare-and-set, so
// several reapers never both apply one.
func (e *Engine) reaper() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.ReaperInterval)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		err := e.loadPurgeMarks(e.ctx)
		if err == nil {
			err = e.reap(e.ctx)
		}
		if err != nil && e.ctx.Err() == nil {
			if Unavailable(err) {
				// The cluster (or the connection) is down: workers' pings
				// cannot be stored either, so their clocks start again.
				e.upSince.Store(time.Now().UnixNano())
			}
			e.log.Warn("engine: reaper", attrErr, err)
		}
		e.reaps.Add(1)
		e.touched.Range(func(k, v any) bool {
			if time.Since(v.(time.Time)) > e.cfg.WorkerLostAfter {
				e.touched.Delete(k)
			}
			return true
		})
		if tick%gcEvery == 0 {
			if err := e.gcInputs(e.ctx); err != nil && e.ctx.Err() == nil {
				e.log.Warn("engine: input clean-up", attrErr, err)
			}
		}
	}
}

// gcEvery: the reaper removes orphaned inputs every gcEvery passes.
const gcEvery = 20

// gcInputs removes stored large inputs whose job record is gone. An input
// must outlive its job's terminal state (a retry reuses it), so it carries
// the job's ttl; once the record expired after its retention, this frees it
// early so disk use follows retention, not ttl.
func (e *Engine) gcInputs(ctx context.Context) error {
	info, err := e.blobs.Info(ctx, jetstream.WithSubjectFilter(blobPrefix+"*.*.in"))
	if err != nil {
		return fmt.Errorf("list inputs: %w", err)
	}
	for subj := range info.State.Subjects {
		parts := strings.Split(strings.TrimPrefix(subj, blobPrefix), ".")
		if len(parts) != 3 {
			continue
		}
		ep, id := parts[0], parts[1]
		// Submit stores the input just before the record: leave young inputs alone.
		m, err := e.blobs.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
		if err != nil || time.Since(m.Time) < e.inputGrace {
			continue
		}
		_, _, err = e.load(ctx, ep, id)
		if errors.Is(err, ErrNotFound) {
			e.purgeBlobs(ctx, subj)
		}
	}
	return nil
}

// reap makes one pass over the jobs that may be IN_PROGRESS.
func (e *Engine) reap(ctx context.Context) error {
	keys, err := e.leaseKeys(ctx, "")
	if err != nil {
		return err
	}
	e.reapMu.Lock()
	defer e.reapMu.Unlock()
	seen := map[string]time.Time{}
	live := make(map[string]time.Time, len(keys))
	defer func() { e.checked = live }()
	var errs []error
	for _, k := range keys {
		if ctx.Err() != nil {
			return nil
		}
		ep, id, ok := strings.Cut(k, ".")
		if !ok {
			continue
		}
		l, lrev, err := e.getLease(ctx, ep, id)
		if err != nil {
			continue // removed meanwhile
		}
		now := time.Now()
		// A lease within its deadline and ttl whose worker is alive needs
		// no look at its job, except every leaseCheck (a lease left behind
		// by a failed clean-up goes then).
		last, ok := e.checked[k]
		if ok && now.Sub(last) < leaseCheck && now.Before(l.Deadline) && now.Before(l.Expire) &&
			now.Sub(e.lastSeen(ctx, seen, ep, l.Worker, l.At)) <= e.cfg.WorkerLostAfter {
			live[k] = last
			continue
		}
		live[k] = now
		r, _, err := e.load(ctx, ep, id)
		if errors.Is(err, ErrNotFound) {
			// Expired (ttl) or removed, possibly mid-run: the worker, if any,
			// must stop. A record never comes back, so no grace is needed.
			if l.Worker != "" {
				e.signalStop(ctx, ep, l.Worker, id)
			}
			e.purgeLease(ctx, ep, id, lrev)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Status != StatusInProgress {
			if r.Status.Terminal() || r.Epoch > l.Epoch || time.Since(l.At) > leaseGrace {
				e.purgeLease(ctx, ep, id, lrev)
			}
			continue
		}
		if now.After(r.Deadline) {
			errs = append(errs, e.timeout(ctx, r))
			continue
		}
		if now.Sub(e.lastSeen(ctx, seen, ep, r.Owner, r.StartedAt)) > e.cfg.WorkerLostAfter {
			errs = append(errs, e.lost(ctx, r))
		}
	}
	return errors.Join(errs...)
}

// lastSeen is when a worker was last seen (ping or take), at least since,
// cached in seen for one reaper pass.
func (e *Engine) lastSeen(ctx context.Context, seen map[string]time.Time, ep, worker string, since time.Time) time.Time {
	k := ep + "." + token(worker)
	t, ok := seen[k]
	if !ok {
		if we, err := e.workers.Get(ctx, k); err == nil {
			var w workerRec
			if json.Unmarshal(we.Value(), &w) == nil {
				t = w.LastSeen
			}
		}
		seen[k] = t
	}
	// A worker gets a whole WorkerLostAfter after this engine started or
	// JetStream came back, however long the outage: its pings could not be
	// stored meanwhile.
	return latest(t, since, time.Unix(0, e.upSince.Load()))
}

// timeout moves a job past its execution deadline to TIMED_OUT.
func (e *Engine) timeout(ctx context.Context, r0 *record) error {
	var owner string
	r, err := e.mutate(ctx, r0.Endpoint, r0.ID, func(r *record) error {
		if r.Status != StatusInProgress || r.Epoch != r0.Epoch || !time.Now().After(r.Deadline) {
			return errStale
		}
		owner = r.Owner
		e.terminate(r, StatusTimedOut, time.Now().UTC())
		r.Error = errorValue(fmt.Sprintf("execution timeout of %s exceeded", r.Policy.ExecutionTimeout))
		return nil
	})
	if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("time out job %s: %w", r0.ID, err)
	}
	e.afterTerminal(ctx, r, StatusInProgress, owner)
	return nil
}

// lost handles a job whose worker stopped pinging (see lose).
func (e *Engine) lost(ctx context.Context, r0 *record) error {
	return e.lose(ctx, r0, fmt.Sprintf("stopped pinging for over %s", e.cfg.WorkerLostAfter))
}

// latest returns the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
