package scaler

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/wire"
)

// evaluate brings one endpoint's workers in line with its queue.
func (s *Supervisor) evaluate(ctx context.Context, id string) {
	s.mu.Lock()
	ep := s.endpoints[id]
	ask := ep != nil && (ep.cfg.Managed() || len(ep.workers) > 0)
	var failWith string
	var q Queue
	if ask {
		failWith = s.crashLoopReason(ep)
		q = s.queueOf(&ep.cfg)
	}
	s.mu.Unlock()
	if !ask {
		return
	}
	s.failQueued(ctx, q, id, failWith)
	cctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	st, err := q.QueueStats(cctx, id)
	var ws []engine.Worker
	if err == nil {
		ws, err = q.Workers(cctx, id)
	}
	cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.endpoints[id] != ep {
		return
	}
	now := time.Now()
	retiring := ep.removed || !ep.cfg.Managed()
	if err != nil {
		if ctx.Err() == nil && ep.lastErr != err.Error() {
			s.log.Warn("read queue figures", attrEndpoint, id, attrErr, err)
		}
		ep.lastErr = err.Error()
		if !retiring {
			return
		}
		// The engine no longer knows a removed endpoint, so nothing tells
		// whether its workers hold jobs (whose results it would refuse
		// anyway): stop them all.
		for _, w := range ep.workers {
			w.jobs = nil
		}
	} else {
		ep.lastErr = ""
		s.observe(ep, ws, now)
		s.replaceWedged(ep, now)
	}
	s.stopDraining(ep, now)
	if retiring {
		for _, w := range ep.workers {
			if !w.drain {
				w.drain, w.reason = true, "endpoint no longer managed"
			}
		}
		s.stopDraining(ep, now)
		return
	}
	s.scale(ep, st, now)
}

// observe updates each worker from the engine's list. Called with s.mu held.
func (s *Supervisor) observe(ep *endpoint, ws []engine.Worker, now time.Time) {
	byID := make(map[string]*engine.Worker, len(ws))
	for i := range ws {
		byID[ws[i].ID] = &ws[i]
	}
	for _, w := range ep.workers {
		if w.exited() || w.killed {
			continue
		}
		ew := byID[w.id]
		switch {
		case ew != nil:
			if !w.seen {
				w.seen = true
				s.observeReady(w, now)
				// A worker that got this far is healthy: the crash loop is over.
				ep.crashStreak, ep.crashed = 0, nil
			}
			w.lastSeen = now
			w.jobs = slices.Clone(ew.Jobs)
			w.setStopping(ew.Stopping, now)
		case !w.seen && now.Sub(w.started) > s.initTimeout(ep):
			s.kill(w, notReadyReason(&ep.cfg, s.initTimeout(ep)))
			continue
		case !w.seen:
			continue // initializing: not idle yet, so its idle time starts when it is seen
		case w.seen && now.Sub(w.lastSeen) > s.cfg.LostAfter:
			// The engine has declared it lost (no pings) and re-queued its jobs.
			w.jobs = nil
			s.kill(w, fmt.Sprintf("no ping for %s", now.Sub(w.lastSeen).Round(time.Second)))
			continue
		}
		// Not listed but not yet lost: keep the jobs it was last seen holding,
		// so a worker is never taken for idle on missing information.
		if len(w.jobs) == 0 && len(w.stopping) == 0 {
			if w.idleSince.IsZero() {
				w.idleSince = now
			}
		} else {
			w.idleSince = time.Time{}
		}
	}
}

// initTimeout is the endpoint's RUNPOD_INIT_TIMEOUT, else Config.InitTimeout.
func (s *Supervisor) initTimeout(ep *endpoint) time.Duration {
	if v, err := strconv.Atoi(ep.cfg.Env[wire.EnvInitTimeout]); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return s.cfg.InitTimeout
}

// stopDraining signals draining workers: SIGTERM once a worker holds no job,
// SIGKILL when it is still alive StopGrace later and still holds none.
// Called with s.mu held.
func (s *Supervisor) stopDraining(ep *endpoint, now time.Time) {
	for _, w := range ep.workers {
		if !w.drain || w.exited() || len(w.jobs) > 0 {
			continue
		}
		switch {
		case w.termAt.IsZero():
			s.terminate(w)
		case w.killAfter > 0 && now.Sub(w.termAt) > w.killAfter:
			s.kill(w, fmt.Sprintf("still running %s after SIGTERM (%s)", w.killAfter, w.reason))
		case now.Sub(w.termAt) > s.cfg.StopGrace:
			s.kill(w, fmt.Sprintf("still running %s after SIGTERM while holding no job", s.cfg.StopGrace))
		}
	}
}

// scale starts or stops workers to meet the rule. Called with s.mu held.
func (s *Supervisor) scale(ep *endpoint, st engine.QueueStats, now time.Time) {
	var f fleet
	var idle []*worker
	procs := 0 // processes not yet exited, draining and stopping ones included
	for _, w := range ep.workers {
		if !w.exited() {
			procs++
		}
		// A worker still running a stopped job is out of capacity until it
		// drops it (or is replaced after the stop grace).
		if w.drain || w.exited() || w.killed || len(w.stopping) > 0 {
			continue
		}
		f.live++
		if !w.seen {
			f.initializing++
		} else if len(w.jobs) == 0 {
			idle = append(idle, w)
		}
	}
	f.sinceStart = time.Duration(1<<63 - 1)
	if !ep.lastStart.IsZero() {
		f.sinceStart = now.Sub(ep.lastStart)
	}
	want := target(&ep.cfg, st, f)
	ep.want, ep.throttled = want, 0

	// Never more processes than workersMax: a replacement starts once the
	// worker it replaces has exited.
	if n := min(want-f.live, ep.cfg.WorkersMax-procs); n > 0 {
		if ep.crashStreak > 0 {
			if now.Before(ep.backoffUntil) || f.initializing > 0 {
				return // the unhealthy status shows; evaluate again next tick
			}
			n = 1 // probe with one worker at a time until one comes up healthy
		}
		for range n {
			gpus, ok := s.allocGPUs(ep)
			if !ok {
				ep.throttled = want - f.live
				return
			}
			s.start(ep, gpus)
			f.live++
		}
		return
	}

	// Stop idle workers above the target: at once above workersMax, else
	// after idleTimeout. Longest idle first.
	excess := f.live - want
	if excess <= 0 {
		return
	}
	slices.SortFunc(idle, func(a, b *worker) int { return a.idleSince.Compare(b.idleSince) })
	overMax := f.live - ep.cfg.WorkersMax
	for _, w := range idle {
		if excess == 0 {
			break
		}
		if overMax <= 0 && now.Sub(w.idleSince) < ep.cfg.IdleTimeoutDuration() {
			continue
		}
		w.drain, w.reason = true, "scale down: idle"
		if overMax > 0 {
			w.reason = "scale down: above workersMax"
			overMax--
		}
		s.terminate(w)
		excess--
	}
}

// allocGPUs takes ep.cfg.GPUCount free devices from the endpoint's pool.
// Called with s.mu held.
func (s *Supervisor) allocGPUs(ep *endpoint) ([]string, bool) {
	n := ep.cfg.GPUCount
	if n <= 0 {
		return nil, true
	}
	var got []string
	for _, g := range ep.cfg.GPUs {
		if _, used := s.gpus[g]; !used {
			got = append(got, g)
			if len(got) == n {
				return got, true
			}
		}
	}
	return nil, false
}
