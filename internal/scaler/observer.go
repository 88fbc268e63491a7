package scaler

import "time"

// Observer hears about the worker processes a Supervisor runs, for metrics.
// Its methods are called with the supervisor's lock held: they must be
// quick and must not call back into the supervisor.
type Observer interface {
	// WorkerStarted is called for every start of a worker process, also one
	// that fails at once (it is then followed by WorkerExited with ExitCrash).
	WorkerStarted(endpoint string)
	// WorkerReady is called when a worker is first seen by the engine (its
	// first job-take or ping), with the time since its process started.
	WorkerReady(endpoint string, coldStart time.Duration)
	// WorkerExited is called when a worker process is gone, with why.
	WorkerExited(endpoint string, reason ExitReason)
}

// ExitReason says why a worker process ended.
type ExitReason string

// Why a worker process ended.
const (
	ExitCrash    ExitReason = "crash"    // failed to start, failed, or exited before it took a job or pinged
	ExitKilled   ExitReason = "killed"   // killed: silent past the init timeout, lost, or deaf to SIGTERM
	ExitDrained  ExitReason = "drained"  // stopped on purpose: scale-down, config change, refresh (stopPod)
	ExitSelf     ExitReason = "exited"   // exited by itself after it ran (runpod-python's refresh_worker)
	ExitShutdown ExitReason = "shutdown" // stopped because Sluice shuts down
)

// exitReason classifies the end of w. Called with s.mu held.
func (s *Supervisor) exitReason(w *worker, crash bool) ExitReason {
	switch {
	case crash:
		return ExitCrash
	case s.stopping:
		return ExitShutdown
	case w.killed:
		return ExitKilled
	case w.drain:
		return ExitDrained
	}
	return ExitSelf
}

func (s *Supervisor) observeStart(endpoint string) {
	if o := s.cfg.Observer; o != nil {
		o.WorkerStarted(endpoint)
	}
}

func (s *Supervisor) observeReady(w *worker, now time.Time) {
	if o := s.cfg.Observer; o != nil {
		o.WorkerReady(w.ep.cfg.ID, now.Sub(w.started))
	}
}

func (s *Supervisor) observeExit(endpoint string, reason ExitReason) {
	if o := s.cfg.Observer; o != nil {
		o.WorkerExited(endpoint, reason)
	}
}
