package scaler

import (
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// Worker states, as Runpod spells them.
const (
	StatusInitializing = "INITIALIZING"
	StatusIdle         = "IDLE"
	StatusRunning      = "RUNNING"
	StatusUnhealthy    = "UNHEALTHY"
)

// WorkerInfo describes one worker: a live process, or a recent crash.
type WorkerInfo struct {
	ID        string    `json:"id"`
	Endpoint  string    `json:"endpoint"`
	Status    string    `json:"status"`
	PID       int       `json:"pid,omitempty"`
	Container string    `json:"container,omitempty"` // an image worker's container name
	GPUs      []string  `json:"gpus,omitempty"`
	Jobs      []string  `json:"jobs,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// Draining: the worker is being stopped (Reason says why) once it holds no job.
	Draining bool   `json:"draining,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Stale: it runs an older configuration and is being replaced (Runpod's isStale).
	Stale bool `json:"isStale"`
	// Exit and LogTail are set for crashed workers: how the process ended and
	// its last output lines.
	ExitedAt time.Time `json:"exitedAt,omitzero"`
	Exit     string    `json:"exit,omitempty"`
	LogTail  []string  `json:"logTail,omitempty"`
	// Port and HealthPort are a load-balancing worker's PORT and
	// PORT_HEALTH on 127.0.0.1.
	Port       int `json:"port,omitempty"`
	HealthPort int `json:"healthPort,omitempty"`
}

// EndpointStatus is the supervisor's view of one endpoint.
type EndpointStatus struct {
	Endpoint string `json:"endpoint"`
	// Managed: Sluice starts this endpoint's workers (it has a command).
	Managed bool                `json:"managed"`
	Workers engine.WorkerCounts `json:"workers"`
	// Unhealthy: the last UnhealthyAfter (default 3) workers in a row crashed
	// before one came up; LastExit and LastLines tell why.
	Unhealthy   bool      `json:"unhealthy"`
	CrashStreak int       `json:"crashStreak"`
	LastExit    string    `json:"lastExit,omitempty"`
	LastLines   []string  `json:"lastLines,omitempty"`
	NextStartAt time.Time `json:"nextStartAt,omitzero"` // crash back-off end
	// FailsQueuedJobs: crashLoopFailAfter is reached; queued jobs FAIL.
	FailsQueuedJobs bool `json:"failsQueuedJobs,omitempty"`
	// QueueError is the last error reading the endpoint's queue figures, if
	// the last attempt failed.
	QueueError string `json:"queueError,omitempty"`
}

// info describes w. Called with s.mu held.
func (w *worker) info(status string) WorkerInfo {
	wi := WorkerInfo{
		ID: w.id, Endpoint: w.ep.cfg.ID, Status: status, PID: w.pid,
		GPUs: slices.Clone(w.gpus), Jobs: slices.Clone(w.jobs), StartedAt: w.started,
		Draining: w.drain, Stale: w.version != w.ep.version, ExitedAt: w.exitedAt,
		Port: w.port, HealthPort: w.healthPort,
	}
	if w.drain || w.killed {
		wi.Reason = w.reason
	}
	if w.ctr != nil {
		wi.Container = w.ctr.name
	}
	return wi
}

func (w *worker) status() string {
	switch {
	case !w.seen:
		return StatusInitializing
	case len(w.stopping) > 0 && time.Since(w.stoppingSince) > w.ep.cfg.StopGrace():
		return StatusUnhealthy // wedged: still running a job stopped long ago
	case len(w.jobs) > 0 || len(w.stopping) > 0:
		return StatusRunning
	case !w.lastSeen.IsZero() && w.killed && !w.drain:
		return StatusUnhealthy // killed as lost
	}
	return StatusIdle
}

// Workers lists an endpoint's worker processes, then its recent crashes
// (status UNHEALTHY), oldest first.
func (s *Supervisor) Workers(endpoint string) []WorkerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[endpoint]
	if ep == nil {
		return nil
	}
	out := make([]WorkerInfo, 0, len(ep.workers)+len(ep.crashed))
	for _, w := range ep.workers {
		out = append(out, w.info(w.status()))
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return append(out, ep.crashed...)
}

// Counts returns an endpoint's worker counts in /health's shape: processes
// by state, recent crashes as unhealthy, and workers waiting for GPUs as
// throttled. Ready equals Idle.
func (s *Supervisor) Counts(endpoint string) engine.WorkerCounts {
	st, _ := s.Status(endpoint)
	return st.Workers
}

// Statuses returns the status of every endpoint, by id.
func (s *Supervisor) Statuses() []EndpointStatus {
	s.mu.Lock()
	ids := make([]string, 0, len(s.endpoints))
	for id := range s.endpoints {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	out := make([]EndpointStatus, 0, len(ids))
	for _, id := range ids {
		if st, ok := s.Status(id); ok {
			out = append(out, st)
		}
	}
	return out
}

// Status returns an endpoint's status, and false for an unknown endpoint.
func (s *Supervisor) Status(endpoint string) (EndpointStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[endpoint]
	if ep == nil {
		return EndpointStatus{Endpoint: endpoint}, false
	}
	st := EndpointStatus{
		Endpoint:    endpoint,
		Managed:     ep.cfg.Managed(),
		Unhealthy:   ep.crashStreak >= s.cfg.UnhealthyAfter,
		CrashStreak: ep.crashStreak,
		LastExit:    ep.lastExit,
		LastLines:   slices.Clone(ep.lastLines),
		QueueError:  ep.lastErr,

		FailsQueuedJobs: s.crashLoopReason(ep) != "",
	}
	if ep.crashStreak > 0 && time.Now().Before(ep.backoffUntil) {
		st.NextStartAt = ep.backoffUntil
	}
	c := &st.Workers
	for _, w := range ep.workers {
		switch w.status() {
		case StatusInitializing:
			c.Initializing++
		case StatusRunning:
			c.Running++
		case StatusUnhealthy:
			c.Unhealthy++
		default:
			c.Idle++
		}
	}
	// Crashes count once per wanted worker that is missing, not once per
	// crash: a crash-looping endpoint with one wanted worker shows 1.
	if n := len(ep.crashed); n > 0 {
		c.Unhealthy += min(n, max(1, ep.want-len(ep.workers)))
	}
	c.Throttled = ep.throttled
	c.Ready = c.Idle
	return st, true
}
