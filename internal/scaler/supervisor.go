package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
	"github.com/sluicehq/sluice/internal/logs"
)

// Queue is what the supervisor needs from the job engine. *engine.Engine
// implements it.
type Queue interface {
	// QueueStats returns an endpoint's queue figures.
	QueueStats(ctx context.Context, endpoint string) (engine.QueueStats, error)
	// Workers returns the live workers the engine knows for an endpoint (from
	// their takes and pings), with the jobs each holds.
	Workers(ctx context.Context, endpoint string) ([]engine.Worker, error)
}

// WorkerLifecycle may be implemented by a Queue to hear about workers the
// supervisor stops; both calls are best effort.
type WorkerLifecycle interface {
	// WorkerDraining is called just before a worker gets SIGTERM: give it no
	// new job (answer its job-take with 204).
	WorkerDraining(ctx context.Context, endpoint, workerID string) error
	// WorkerExited is called when a worker's process is gone: the jobs it
	// still held are re-queued now rather than when its pings time out. why
	// says how it ended and where its log is, for the jobs' errors.
	WorkerExited(ctx context.Context, endpoint, workerID, why string) error
}

// Defaults for Config.
const (
	DefaultTick            = 500 * time.Millisecond
	DefaultStopGrace       = 45 * time.Second
	DefaultShutdownGrace   = 30 * time.Second
	DefaultInitTimeout     = 7 * time.Minute
	DefaultCrashBackoff    = time.Second
	DefaultMaxCrashBackoff = time.Minute
	DefaultUnhealthyAfter  = 3
	DefaultCallTimeout     = 5 * time.Second
	crashLogLines          = 20
	maxCrashRecords        = 10
)

// Config configures New. BaseURL and Queue are required.
type Config struct {
	// BaseURL is where workers reach the worker API, e.g.
	// "http://127.0.0.1:8080". Required.
	BaseURL string
	// Queue gives the queue figures and the engine's view of the workers. Required.
	Queue Queue
	// DataDir holds worker logs under DataDir/logs, unless Logs is set.
	DataDir string
	// Logs stores worker output. Default: a store in DataDir/logs, closed
	// when Run returns. One of Logs and DataDir is required.
	Logs *logs.Store
	// WorkerKey is RUNPOD_AI_API_KEY for endpoints without a workerKey.
	WorkerKey string
	// PingInterval is RUNPOD_PING_INTERVAL. Default 10 s.
	PingInterval time.Duration
	// Tick is how often every endpoint is evaluated (Notify evaluates one at
	// once). Default 500 ms.
	Tick time.Duration
	// StopGrace is how long a stopping worker that holds no job may take to
	// exit after SIGTERM before it gets SIGKILL. Default 45 s: more than the
	// worker API's 30 s job-take hold, which runpod-python waits out before
	// it exits.
	StopGrace time.Duration
	// ShutdownGrace bounds Run's shutdown, which sends SIGTERM to idle
	// workers at once and to busy ones once their jobs are done: workers
	// still alive this long after it began are killed, busy or not (their
	// jobs are re-run by the engine). Default 30 s.
	ShutdownGrace time.Duration
	// InitTimeout: a worker neither taking nor pinging this long after it
	// started is killed and counted as a crash. An endpoint's env may set
	// RUNPOD_INIT_TIMEOUT (seconds) instead, as on Runpod. Default 7 min.
	InitTimeout time.Duration
	// LostAfter: a started worker the engine stopped listing (no pings) for
	// this long is killed and replaced. Default 3 × PingInterval.
	LostAfter time.Duration
	// CrashBackoff is the wait after the first crash; it doubles with each
	// consecutive crash up to MaxCrashBackoff. Defaults 1 s and 1 min.
	CrashBackoff    time.Duration
	MaxCrashBackoff time.Duration
	// UnhealthyAfter is the number of consecutive crashes after which an
	// endpoint shows as unhealthy. Default 3.
	UnhealthyAfter int
	// Env is the base environment of workers. Default os.Environ().
	Env []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Observer, when set, hears about worker starts, readiness and exits
	// (metrics). Default: none.
	Observer Observer
	// LB routes the requests of load-balancing endpoints (type LB) and
	// gives their figures (lb.go). Default: none; such endpoints then scale
	// on the Queue's figures.
	LB LBPool
	// ServerID labels the containers of image workers (sluice.server), so
	// that a restarted server finds and removes those it left behind. Keep
	// it stable across restarts and distinct between servers sharing a
	// container runtime. Default: a random id (nothing left behind is found).
	ServerID string
}

// Log attribute keys.
const (
	attrEndpoint = logkey.Endpoint
	attrWorker   = logkey.WorkerID
	attrErr      = logkey.Err
	attrReason   = "reason"
	attrPID      = "pid"
	attrGPUs     = "gpus"
	attrStatus   = "status"
	attrCrash    = "crash"
	attrCrashes  = "crashes"
	attrExit     = "exit"
	attrJobs     = "jobs"
)

// Supervisor runs the worker processes of every managed endpoint. Create it
// with New, give it endpoints with Update and run it with Run. Its methods
// are safe for concurrent use.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	logs    *logs.Store
	ownLogs bool
	host    string

	mu        sync.Mutex
	endpoints map[string]*endpoint
	gpus      map[string]string    // device -> worker id holding it
	gone      map[string]time.Time // recently exited workers, by id (Owns)
	pending   map[string]bool      // endpoints to evaluate at once
	stopping  bool                 // Run is shutting down
	wake      chan struct{}
	wg        sync.WaitGroup // exit watchers
	rts       runtimes       // container runtimes found (container.go)
}

// endpoint is the supervisor's state of one endpoint.
type endpoint struct {
	cfg          config.Endpoint
	version      string // of the fields that change how a worker is started
	workers      map[string]*worker
	crashed      []WorkerInfo // recent crashes not yet followed by a healthy worker
	crashStreak  int
	backoffUntil time.Time
	lastExit     string
	lastLines    []string
	lastStart    time.Time
	throttled    int
	want         int // target of the last evaluation
	removed      bool
	lastErr      string // last error asking the queue
}

// New checks cfg and returns a supervisor with no endpoints.
func New(cfg Config) (*Supervisor, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("scaler: BaseURL is required")
	}
	if cfg.Queue == nil {
		return nil, errors.New("scaler: Queue is required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PingInterval, 10*time.Second)
	def(&cfg.Tick, DefaultTick)
	def(&cfg.StopGrace, DefaultStopGrace)
	def(&cfg.ShutdownGrace, DefaultShutdownGrace)
	def(&cfg.InitTimeout, DefaultInitTimeout)
	def(&cfg.LostAfter, 3*cfg.PingInterval)
	def(&cfg.CrashBackoff, DefaultCrashBackoff)
	def(&cfg.MaxCrashBackoff, DefaultMaxCrashBackoff)
	if cfg.UnhealthyAfter <= 0 {
		cfg.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.ServerID == "" {
		cfg.ServerID = newWorkerID("server")
	}
	s := &Supervisor{
		cfg:       cfg,
		log:       cfg.Logger,
		logs:      cfg.Logs,
		endpoints: map[string]*endpoint{},
		gpus:      map[string]string{},
		gone:      map[string]time.Time{},
		pending:   map[string]bool{},
		wake:      make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.host, _ = os.Hostname()
	if s.logs == nil {
		if cfg.DataDir == "" {
			return nil, errors.New("scaler: DataDir or Logs is required")
		}
		st, err := logs.Open(logs.Config{Dir: filepath.Join(cfg.DataDir, "logs")})
		if err != nil {
			return nil, fmt.Errorf("scaler: %w", err)
		}
		s.logs, s.ownLogs = st, true
	}
	return s, nil
}

// Logs returns the store holding the workers' output.
func (s *Supervisor) Logs() *logs.Store { return s.logs }

// LogHandler serves GET /v2/{endpoint}/logs for the supervisor's endpoints
// (see logs.Store.Handler).
func (s *Supervisor) LogHandler() http.Handler {
	return s.logs.Handler(func(id string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.endpoints[id]
		return ok
	})
}

// Notify asks for endpoint to be evaluated at once, e.g. right after a job
// was submitted to it. It never blocks.
func (s *Supervisor) Notify(endpoint string) {
	s.mu.Lock()
	s.pending[endpoint] = true
	s.mu.Unlock()
	s.poke()
}

func (s *Supervisor) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Refresh replaces a worker once it holds no job: call it when a worker's
// job-done carried stopPod (runpod-python's refresh_worker). It reports
// whether the worker is one of the supervisor's.
func (s *Supervisor) Refresh(workerID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ep := range s.endpoints {
		if w := ep.workers[workerID]; w != nil {
			if !w.drain {
				w.drain, w.reason = true, "refresh requested (stopPod)"
				s.pending[ep.cfg.ID] = true
				s.poke()
			}
			return true
		}
	}
	return false
}

// Update applies a new set of endpoints without dropping jobs. New endpoints
// start scaling. Removed endpoints drain: each worker stops once it holds no
// job. When an endpoint's command, dir, env, GPUs or worker key change, its
// workers are replaced the same way (a rolling release: idle ones at once,
// busy ones after their job) while replacements start. Scaling settings
// apply at the next evaluation. The endpoints must be valid (config.Parse).
func (s *Supervisor) Update(ctx context.Context, endpoints []config.Endpoint) error {
	seen := map[string]bool{}
	for _, e := range endpoints {
		if e.ID == "" || seen[e.ID] {
			return fmt.Errorf("scaler: update: empty or duplicate endpoint id %q", e.ID)
		}
		seen[e.ID] = true
	}
	endpoints, err := s.resolveRuntimes(ctx, endpoints)
	if err != nil {
		return fmt.Errorf("scaler: update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range endpoints {
		v := version(&e, s.cfg.WorkerKey)
		ep := s.endpoints[e.ID]
		if ep == nil {
			s.endpoints[e.ID] = &endpoint{cfg: e, version: v, workers: map[string]*worker{}}
			s.pending[e.ID] = true
			continue
		}
		ep.cfg, ep.removed = e, false
		if ep.version != v {
			ep.version = v
			ep.crashStreak, ep.backoffUntil, ep.crashed = 0, time.Time{}, nil
			for _, w := range ep.workers {
				if w.version != v && !w.drain {
					w.drain, w.reason = true, "configuration changed"
				}
			}
		}
		s.pending[e.ID] = true
	}
	for id, ep := range s.endpoints {
		if seen[id] {
			continue
		}
		ep.removed = true
		for _, w := range ep.workers {
			if !w.drain {
				w.drain, w.reason = true, "endpoint removed"
			}
		}
		if len(ep.workers) == 0 {
			delete(s.endpoints, id)
		}
		s.pending[id] = true
	}
	s.poke()
	return nil
}

// version fingerprints what a running worker cannot pick up without a restart.
func version(e *config.Endpoint, defKey string) string {
	key := e.WorkerKey
	if key == "" {
		key = defKey
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q|%q|%d|%q|%q|%s|%s|%#v|", e.Command, e.Dir, e.GPUCount, e.GPUs, key, e.Type, e.HealthPort, e.Container)
	keys := make([]string, 0, len(e.Env))
	for k := range e.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q|", k, e.Env[k])
	}
	return b.String()
}

// Run evaluates every endpoint each Tick and at each Notify, until ctx ends.
// Then it stops every worker (SIGTERM once it holds no job, SIGKILL after
// ShutdownGrace), waits for them, closes its own log store and returns nil.
// Call Run once.
func (s *Supervisor) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	s.sweep(ctx, "left by an earlier run of this server")
	s.evaluateAll(ctx)
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-tick.C:
			s.evaluateAll(ctx)
		case <-s.wake:
			s.mu.Lock()
			ids := make([]string, 0, len(s.pending))
			for id := range s.pending {
				ids = append(ids, id)
			}
			clear(s.pending)
			s.mu.Unlock()
			for _, id := range ids {
				s.evaluate(ctx, id)
			}
		}
	}
}

func (s *Supervisor) evaluateAll(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.endpoints))
	for id := range s.endpoints {
		ids = append(ids, id)
	}
	clear(s.pending)
	s.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.evaluate(ctx, id)
	}
}

// shutdown stops every worker and waits for them. Idle workers get SIGTERM
// at once; a busy one only once it holds no job (the Go SDK cancels its
// running jobs' context on SIGTERM, so a job would fail for no fault of its
// own). Workers still alive ShutdownGrace after the shutdown began are
// killed, busy or not; the engine re-runs their jobs.
func (s *Supervisor) shutdown() {
	s.mu.Lock()
	s.stopping = true
	var all []*worker
	for _, ep := range s.endpoints {
		for _, w := range ep.workers {
			if !w.drain {
				w.drain, w.reason = true, "sluice is shutting down"
			}
			all = append(all, w)
		}
	}
	s.mu.Unlock()
	deadline := time.NewTimer(s.cfg.ShutdownGrace)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	for !s.drainAll(all) {
		select {
		case <-deadline.C:
			s.mu.Lock()
			for _, w := range all {
				s.kill(w, "still running after the shutdown grace period")
			}
			s.mu.Unlock()
		case <-tick.C:
			continue
		case <-s.wake:
			continue
		}
		break
	}
	for _, w := range all {
		<-w.done
	}
	s.wg.Wait()
	s.sweep(context.Background(), "still there after their worker exited")
	if s.ownLogs {
		s.logs.Close()
	}
}

// drainAll is one shutdown step: it reads which jobs the workers in all
// hold and sends SIGTERM to those holding none. It reports whether every
// worker has exited.
func (s *Supervisor) drainAll(all []*worker) bool {
	s.mu.Lock()
	eps := map[string]*endpoint{}
	for _, w := range all {
		if !w.exited() {
			eps[w.ep.cfg.ID] = w.ep
		}
	}
	s.mu.Unlock()
	if len(eps) == 0 {
		return true
	}
	for id, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultCallTimeout)
		s.mu.Lock()
		q := s.queueOf(&ep.cfg)
		s.mu.Unlock()
		ws, err := q.Workers(ctx, id)
		cancel()
		s.mu.Lock()
		if err != nil {
			// Nothing tells which jobs they hold: stop them all now.
			for _, w := range ep.workers {
				w.jobs = nil
			}
		} else {
			s.observe(ep, ws, time.Now())
		}
		s.stopDraining(ep, time.Now())
		s.mu.Unlock()
	}
	return false
}
