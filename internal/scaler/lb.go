package scaler

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// LBPool routes the requests of load-balancing endpoints (type LB) to their
// workers, which are HTTP servers of their own rather than job-take
// clients. For those endpoints the supervisor reads the figures it scales
// on from the pool instead of the job engine: QueueStats counts requests
// waiting for a ready worker as Queued (with the oldest one's age) and the
// requests being proxied as InProgress; Workers lists the workers whose
// GET /ping on PORT_HEALTH last answered 200, each with the requests it is
// serving as its Jobs. A worker not listed within the init timeout of its
// start, or no longer listed for LostAfter, is killed and replaced.
// WorkerDraining takes a worker out of rotation; WorkerExited forgets it.
// The pool may implement QueueFailer: a crash-looping endpoint's waiting
// requests then fail at once.
type LBPool interface {
	Queue
	WorkerLifecycle
	// WorkerStarted says a worker of endpoint was started with PORT=port
	// and PORT_HEALTH=healthPort on 127.0.0.1: the pool polls its /ping
	// until it answers 200. It must not block.
	WorkerStarted(endpoint, workerID string, port, healthPort int)
}

// queueOf is where the figures of endpoint e come from: the LB pool for a
// load-balancing endpoint, else the job engine.
func (s *Supervisor) queueOf(e *config.Endpoint) Queue {
	if e.IsLB() && s.cfg.LB != nil {
		return s.cfg.LB
	}
	return s.cfg.Queue
}

// lbPorts picks the loopback ports of a new worker of a load-balancing
// endpoint and returns them with the environment that announces them. Not
// an LB endpoint: zeros and no environment.
func lbPorts(e *config.Endpoint) (port, health int, env []string, err error) {
	if !e.IsLB() {
		return 0, 0, nil, nil
	}
	if port, err = freePort(); err != nil {
		return 0, 0, nil, err
	}
	health = port
	if e.HealthPort == config.HealthPortSeparate {
		for health == port {
			if health, err = freePort(); err != nil {
				return 0, 0, nil, err
			}
		}
	}
	return port, health, []string{config.EnvPort + "=" + strconv.Itoa(port), config.EnvPortHealth + "=" + strconv.Itoa(health)}, nil
}

// freePort returns a loopback TCP port free right now. The worker binds it
// a moment later; another process taking it in between makes that worker
// fail to start, which counts as a crash and is retried.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port for a worker: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lifecycle is the WorkerLifecycle that hears about w, if any: the LB pool
// for a worker started for a load-balancing endpoint (even if the endpoint
// has changed type since), else the queue's. Called with s.mu held.
func (s *Supervisor) lifecycle(w *worker) (WorkerLifecycle, bool) {
	if w.port > 0 && s.cfg.LB != nil {
		return s.cfg.LB, true
	}
	lc, ok := s.cfg.Queue.(WorkerLifecycle)
	return lc, ok
}

// lbStarted tells the pool where a started worker of an LB endpoint listens.
func (s *Supervisor) lbStarted(ep *endpoint, w *worker) {
	if ep.cfg.IsLB() && s.cfg.LB != nil {
		s.cfg.LB.WorkerStarted(ep.cfg.ID, w.id, w.port, w.healthPort)
	}
}

// notReadyReason says why a worker that never came up within d is killed.
func notReadyReason(e *config.Endpoint, d time.Duration) string {
	if e.IsLB() {
		return fmt.Sprintf("GET /ping on its PORT_HEALTH did not answer 200 within %s", d)
	}
	return fmt.Sprintf("neither took a job nor pinged within %s", d)
}
