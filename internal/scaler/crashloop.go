package scaler

import (
	"context"
	"fmt"
	"time"
)

// QueueFailer may be implemented by a Queue: with it, an endpoint whose
// crashLoopFailAfter is reached has its queued jobs FAILED with the reason
// instead of waiting for a worker that never comes up. *engine.Engine
// implements it.
type QueueFailer interface {
	FailQueued(ctx context.Context, endpoint, reason string) (int, error)
}

// crashLoopReason is the error queued jobs FAIL with when ep's
// crashLoopFailAfter is reached, or "" when it is not. Called with s.mu held.
func (s *Supervisor) crashLoopReason(ep *endpoint) string {
	n := ep.cfg.CrashLoopFailAfter
	if n <= 0 || ep.crashStreak < n || !ep.cfg.Managed() {
		return ""
	}
	return fmt.Sprintf("endpoint %s is crash-looping: %d workers in a row exited before they came up (crashLoopFailAfter %d); the last %s; read its log: sluice logs %s",
		ep.cfg.ID, ep.crashStreak, n, ep.lastExit, ep.cfg.ID)
}

// failQueued FAILS id's queued jobs with reason, when the queue can.
func (s *Supervisor) failQueued(ctx context.Context, q Queue, id, reason string) {
	f, ok := q.(QueueFailer)
	if !ok || reason == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	n, err := f.FailQueued(ctx, id, reason)
	if err != nil {
		s.log.Warn("fail the queued jobs of a crash-looping endpoint", attrEndpoint, id, attrErr, err)
		return
	}
	if n > 0 {
		s.log.Warn("failed the queued jobs of a crash-looping endpoint", attrEndpoint, id, attrJobs, n, attrReason, reason)
	}
}

// Owns reports whether workerID is one of the supervisor's worker
// processes, live or exited within LostAfter (a late ping from one must
// not make it count as a worker started elsewhere).
func (s *Supervisor) Owns(workerID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gone[workerID]; ok {
		return true
	}
	for _, ep := range s.endpoints {
		if _, ok := ep.workers[workerID]; ok {
			return true
		}
	}
	return false
}

// forget remembers that worker id exited, and forgets those that exited
// more than LostAfter ago. Called with s.mu held.
func (s *Supervisor) forget(id string, now time.Time) {
	for g, at := range s.gone {
		if now.Sub(at) > s.cfg.LostAfter {
			delete(s.gone, g)
		}
	}
	s.gone[id] = now
}
