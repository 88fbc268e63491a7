package scaler

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// setStopping records the stopped jobs w still runs (from the engine's
// list). Called with s.mu held.
func (w *worker) setStopping(jobs []string, now time.Time) {
	switch {
	case len(jobs) == 0:
		w.stopping, w.stoppingSince = nil, time.Time{}
	case len(w.stopping) == 0:
		w.stopping, w.stoppingSince = slices.Clone(jobs), now
	default:
		w.stopping = slices.Clone(jobs)
	}
}

// replaceWedged restarts workers still running a stopped job their
// endpoint's stop grace after it was first seen stopped: SIGTERM once they
// hold no other job, SIGKILL a stop grace later (stopDraining). Their jobs
// were already stopped, so nothing is lost. Called with s.mu held.
func (s *Supervisor) replaceWedged(ep *endpoint, now time.Time) {
	grace := ep.cfg.StopGrace()
	for _, w := range ep.workers {
		if len(w.stopping) == 0 || w.drain || w.killed || w.exited() || now.Sub(w.stoppingSince) <= grace {
			continue
		}
		w.drain, w.killAfter = true, grace
		w.reason = fmt.Sprintf("unhealthy: still running stopped job %s %s after it was stopped (stopGraceSeconds %d)",
			strings.Join(w.stopping, ","), now.Sub(w.stoppingSince).Round(time.Second), ep.cfg.StopGraceSeconds)
		s.log.Warn("replacing a wedged worker", attrEndpoint, ep.cfg.ID, attrWorker, w.id, attrReason, w.reason)
	}
}
