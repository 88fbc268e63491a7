package server

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/lbproxy"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/wire"
)

// hookedEngine is the engine as the API sees it, telling the supervisor
// what it needs to know: a submit wakes the endpoint's scaler (cold start
// at once, not at the next tick), a stopPod result replaces the worker, and
// /health shows the supervisor's worker states for managed endpoints, and
// /status and /health say why queued jobs wait (waiting.go). An endpoint a
// reload removed takes no new job.
type hookedEngine struct {
	*engine.Engine
	sup    *scaler.Supervisor
	cur    *atomic.Pointer[live] // nil: no endpoint is managed
	drains *drains
	waits  *waits        // nil: waiting reasons are not cached
	lb     *lbproxy.Pool // nil: no load-balancing endpoints
}

var (
	_ api.Engine = hookedEngine{}
	_ api.Waiter = hookedEngine{}
)

// managed reports whether Sluice runs endpoint's workers.
func (h hookedEngine) managed(endpoint string) bool {
	if h.cur == nil {
		return false
	}
	return h.cur.Load().managed[endpoint]
}

// retired reports whether a reload removed endpoint.
func (h hookedEngine) retired(endpoint string) bool {
	if h.cur == nil {
		return false
	}
	_, gone := h.cur.Load().retired[endpoint]
	return gone
}

func (h hookedEngine) Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error) {
	if h.retired(endpoint) {
		return nil, fmt.Errorf("submit to %s: %w", endpoint, api.ErrEndpointRemoved)
	}
	if err := lbSubmitCheck(ctx, h.lb, endpoint); err != nil {
		return nil, err
	}
	j, err := h.Engine.Submit(ctx, endpoint, req)
	if err == nil && h.managed(endpoint) {
		h.sup.Notify(endpoint)
	}
	return j, err
}

// Retry runs a job again, unless its endpoint was removed (no new work).
func (h hookedEngine) Retry(ctx context.Context, endpoint, id string) (*engine.Job, error) {
	if h.retired(endpoint) {
		return nil, fmt.Errorf("retry %s on %s: %w", id, endpoint, api.ErrEndpointRemoved)
	}
	return h.Engine.Retry(ctx, endpoint, id)
}

func (h hookedEngine) Finish(ctx context.Context, endpoint, workerID, jobID string, r engine.Result) error {
	if r.StopPod && h.managed(endpoint) {
		// Hand this worker no new job from now on: it may poll job-take
		// again before the supervisor gets round to replacing it.
		_ = lifecycleQueue{Engine: h.Engine, d: h.drains}.WorkerDraining(ctx, endpoint, workerID)
	}
	err := h.Engine.Finish(ctx, endpoint, workerID, jobID, r)
	if r.StopPod {
		// The worker asked to be replaced (refresh_worker), whatever became of its result.
		h.sup.Refresh(workerID)
	}
	return err
}

func (h hookedEngine) Health(ctx context.Context, endpoint string) (engine.Health, error) {
	hl, err := h.Engine.Health(ctx, endpoint)
	if err != nil {
		return hl, err
	}
	if !h.managed(endpoint) {
		return h.withWaiting(ctx, endpoint, hl), nil
	}
	// The supervisor knows its own processes' states (initializing,
	// throttled, unhealthy); workers started by hand or by another
	// orchestrator on the same endpoint are known to the engine only, and
	// count as running or idle by whether they hold a job.
	st, _ := h.sup.Status(endpoint)
	counts := st.Workers
	if ws, werr := h.Workers(ctx, endpoint); werr == nil {
		counts = addExternal(counts, ws, h.sup.Owns)
	}
	hl.Workers = counts
	hl = lbHealth(h.lb, endpoint, hl)
	if st.Unhealthy || st.FailsQueuedJobs {
		hl.CrashLoop = &engine.CrashLoop{
			Crashes: st.CrashStreak, LastExit: st.LastExit, LogTail: st.LastLines,
			NextStartAt: st.NextStartAt, FailsQueuedJobs: st.FailsQueuedJobs,
		}
	}
	return h.withWaiting(ctx, endpoint, hl), nil
}

// addExternal adds the engine's workers that are not the supervisor's
// (own) to counts: workers started by hand or by another orchestrator.
func addExternal(counts engine.WorkerCounts, ws []engine.Worker, own func(id string) bool) engine.WorkerCounts {
	for _, w := range ws {
		switch {
		case own(w.ID):
		case len(w.Jobs) > 0 || len(w.Stopping) > 0:
			counts.Running++
		default:
			counts.Idle++
			counts.Ready++
		}
	}
	return counts
}

// extensions serves GET /v2/endpoints, /workers and /logs from the config
// in force, the engine and the supervisor, and POST /v2/admin/reload with rl.
func extensions(cur *atomic.Pointer[live], eng *engine.Engine, sup *scaler.Supervisor, rl *reloader) api.Extensions {
	return api.Extensions{
		Endpoints: func(ctx context.Context) []wire.EndpointInfo {
			f := cur.Load().s.file
			out := make([]wire.EndpointInfo, 0, len(f.Endpoints))
			for _, ep := range f.Endpoints {
				info := wire.EndpointInfo{
					ID: ep.ID, Managed: ep.Managed(), WorkersMin: ep.WorkersMin, WorkersMax: ep.WorkersMax,
					ExecutionTimeoutMs: ep.ExecutionTimeout().Milliseconds(),
				}
				if qs, err := eng.QueueStats(ctx, ep.ID); err == nil {
					info.InQueue, info.InProgress = qs.Queued+qs.QueuedLow, qs.InProgress
				}
				if ep.Managed() {
					c := sup.Counts(ep.ID)
					info.Workers = c.Initializing + c.Idle + c.Running
				} else if ws, err := eng.Workers(ctx, ep.ID); err == nil {
					info.Workers = len(ws)
				}
				out = append(out, info)
			}
			return out
		},
		Workers: func(ctx context.Context, endpoint string) (any, error) {
			if cur.Load().managed[endpoint] {
				// The supervisor's processes, then workers started elsewhere,
				// as /health counts them.
				out := sup.Workers(endpoint)
				if ws, err := eng.Workers(ctx, endpoint); err == nil {
					out = append(out, externalInfo(endpoint, ws, sup.Owns)...)
				}
				return out, nil
			}
			ws, err := eng.Workers(ctx, endpoint)
			if err != nil {
				return nil, fmt.Errorf("workers of %s: %w", endpoint, err)
			}
			return ws, nil
		},
		Logs: sup.LogHandler(),
		Reload: func(ctx context.Context) ([]string, error) {
			return rl.logReload(ctx, "POST /v2/admin/reload")
		},
	}
}

// externalInfo describes the engine's workers that are not the
// supervisor's (own) in /workers' shape.
func externalInfo(endpoint string, ws []engine.Worker, own func(id string) bool) []scaler.WorkerInfo {
	var out []scaler.WorkerInfo
	for _, w := range ws {
		if own(w.ID) {
			continue
		}
		st := scaler.StatusIdle
		if len(w.Jobs) > 0 || len(w.Stopping) > 0 {
			st = scaler.StatusRunning
		}
		out = append(out, scaler.WorkerInfo{ID: w.ID, Endpoint: endpoint, Status: st, Jobs: w.Jobs})
	}
	return out
}
