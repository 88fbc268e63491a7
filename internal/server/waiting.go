package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/wire"
)

// waitTTL is how long an endpoint's waiting reason is reused, so that
// clients polling /status cost one look at the supervisor and the engine's
// workers per endpoint and period, not one per request.
const waitTTL = 250 * time.Millisecond

// waits caches each endpoint's waiting reason. Since is kept while the
// reason stays the same from one look to the next.
type waits struct {
	ttl time.Duration // how long a reason is reused: waitTTL
	mu  sync.Mutex
	eps map[string]waitEntry
}

type waitEntry struct {
	at time.Time // when it was computed
	w  wire.Waiting
}

func newWaits() *waits { return &waits{ttl: waitTTL, eps: map[string]waitEntry{}} }

// Waiting says why endpoint's queued jobs wait (api.Waiter), or nil when
// Sluice cannot tell (the engine's workers could not be read).
func (h hookedEngine) Waiting(ctx context.Context, endpoint string) *wire.Waiting {
	now := time.Now()
	if h.waits != nil {
		h.waits.mu.Lock()
		e, ok := h.waits.eps[endpoint]
		h.waits.mu.Unlock()
		if ok && now.Sub(e.at) < h.waits.ttl {
			w := e.w
			return &w
		}
	}
	w, ok := h.waitReason(ctx, endpoint, now)
	if !ok {
		return nil
	}
	if h.waits != nil {
		h.waits.mu.Lock()
		if prev, ok := h.waits.eps[endpoint]; ok && prev.w.Reason == w.Reason && prev.w.Since.Before(w.Since) {
			w.Since = prev.w.Since
		}
		h.waits.eps[endpoint] = waitEntry{at: now, w: w}
		h.waits.mu.Unlock()
	}
	return &w
}

// waitReason works out endpoint's waiting reason at now from the engine's
// workers and, for a managed endpoint, the supervisor's status.
func (h hookedEngine) waitReason(ctx context.Context, endpoint string, now time.Time) (wire.Waiting, bool) {
	ws, err := h.Workers(ctx, endpoint)
	if err != nil {
		return wire.Waiting{}, false
	}
	w := wire.Waiting{Since: now}
	if !h.managed(endpoint) {
		busy := 0
		for _, wk := range ws {
			if len(wk.Jobs) > 0 || len(wk.Stopping) > 0 {
				busy++
			}
		}
		switch {
		case len(ws) == 0:
			w.Reason = wire.WaitNoWorkers
			w.Message = fmt.Sprintf("no worker is connected to %s and Sluice starts none (the endpoint has no command); connect one with `sluice worker-env %s`", endpoint, endpoint)
		case busy == len(ws):
			w.Reason = wire.WaitQueued
			w.Message = fmt.Sprintf("all %d connected workers are busy; Sluice starts none for %s (no command)", len(ws), endpoint)
		default:
			w.Reason = wire.WaitQueued
			w.Message = fmt.Sprintf("%d of %d connected workers are idle; the job is taken at their next poll", len(ws)-busy, len(ws))
		}
		return w, true
	}
	st, _ := h.sup.Status(endpoint)
	c := addExternal(st.Workers, ws, h.sup.Owns)
	starting := func() (string, time.Time) { return oldestStarting(h.sup.Workers(endpoint)) }
	return managedReason(endpoint, st, c, h.workersMax(endpoint), starting, now), true
}

// managedReason is the waiting reason of a managed endpoint from the
// supervisor's status st, the worker counts c (external workers included),
// its workersMax, and starting, which names the longest-starting worker.
func managedReason(endpoint string, st scaler.EndpointStatus, c engine.WorkerCounts, workersMax int,
	starting func() (string, time.Time), now time.Time) wire.Waiting {
	w := wire.Waiting{Since: now}
	live := c.Idle + c.Running + c.Initializing
	switch {
	case st.Unhealthy || st.FailsQueuedJobs || (st.CrashStreak > 0 && !st.NextStartAt.IsZero() && live == 0):
		w.Reason = wire.WaitCrashLoop
		w.Message = crashMessage(st, now)
	case c.Idle > 0:
		w.Reason = wire.WaitQueued
		w.Message = fmt.Sprintf("%d idle worker(s); the job is taken at their next poll", c.Idle)
	case c.Initializing > 0:
		w.Reason = wire.WaitStartingWorker
		id, started := starting()
		if !started.IsZero() {
			w.Since = started
		}
		w.Message = fmt.Sprintf("worker %s is starting (%s so far)", id, now.Sub(w.Since).Round(100*time.Millisecond))
	case c.Throttled > 0:
		w.Reason = wire.WaitGPUsBusy
		w.Message = fmt.Sprintf("%d worker(s) wait for a free GPU: every GPU is in use", c.Throttled)
	case c.Unhealthy > 0 && c.Running+c.Unhealthy >= workersMax:
		w.Reason = wire.WaitWorkersUnhealthy
		w.Message = fmt.Sprintf("%d worker(s) are unhealthy (wedged on a stopped job or lost) and are being replaced; %d running", c.Unhealthy, c.Running)
	case workersMax == 0:
		w.Reason = wire.WaitNoWorkers
		w.Message = fmt.Sprintf("workersMax of %s is 0, so Sluice starts no worker; raise it, or connect one with `sluice worker-env %s`", endpoint, endpoint)
	case c.Running >= workersMax:
		w.Reason = wire.WaitAtMaxWorkers
		w.Message = fmt.Sprintf("all %d workers are busy and %s is at workersMax (%d)", c.Running, endpoint, workersMax)
	default:
		w.Reason = wire.WaitQueued
		w.Message = "a worker is being added"
	}
	return w
}

// crashMessage describes a crash loop: the streak, the last exit and the back-off.
func crashMessage(st scaler.EndpointStatus, now time.Time) string {
	msg := fmt.Sprintf("%d worker(s) in a row exited before they came up; last exit: %s", st.CrashStreak, st.LastExit)
	if !st.NextStartAt.IsZero() {
		msg += fmt.Sprintf("; next start in %s (crash back-off)", st.NextStartAt.Sub(now).Round(100*time.Millisecond))
	}
	if st.FailsQueuedJobs {
		msg += "; queued jobs fail"
	}
	return msg
}

// oldestStarting is the longest-starting INITIALIZING worker of ws.
func oldestStarting(ws []scaler.WorkerInfo) (string, time.Time) {
	var id string
	var at time.Time
	for _, w := range ws {
		if w.Status == scaler.StatusInitializing && (at.IsZero() || w.StartedAt.Before(at)) {
			id, at = w.ID, w.StartedAt
		}
	}
	return id, at
}

// workersMax is endpoint's workersMax in the configuration in force.
func (h hookedEngine) workersMax(endpoint string) int {
	for _, ep := range h.cur.Load().s.file.Endpoints {
		if ep.ID == endpoint {
			return ep.WorkersMax
		}
	}
	return 0
}

// withWaiting adds the endpoint's waiting reason to hl while jobs wait.
func (h hookedEngine) withWaiting(ctx context.Context, endpoint string, hl engine.Health) engine.Health {
	if hl.Jobs.InQueue > 0 {
		hl.Waiting = h.Waiting(ctx, endpoint)
	}
	return hl
}

// unmanagedWarning is the start-up warning for an endpoint without a command.
func unmanagedWarning(endpoint string) string {
	return fmt.Sprintf("no workers will start for %s; connect them with `sluice worker-env %s`", endpoint, endpoint)
}

// warnUnmanaged announces, in the log and the hints for people (if any),
// every endpoint Sluice starts no worker for: its jobs wait until a worker
// is connected by hand.
func warnUnmanaged(eps []config.Endpoint, log *slog.Logger, hints io.Writer) {
	for _, ep := range eps {
		if ep.Managed() {
			continue
		}
		msg := unmanagedWarning(ep.ID)
		log.Warn(msg, logkey.Endpoint, ep.ID)
		if hints != nil {
			fmt.Fprintf(hints, "\nWarning: %s\n", msg)
		}
	}
}
