package lbproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
	"github.com/sluicehq/sluice/internal/scaler"
)

// Defaults of Config.
const (
	DefaultHealthInterval = 2 * time.Second
	DefaultPingTimeout    = 5 * time.Second
	DefaultMaxIdlePerHost = 512
	firstPollDelay        = 20 * time.Millisecond // first /ping after a start; doubles up to HealthInterval
)

// Log attribute keys.
const (
	attrEndpoint = logkey.Endpoint
	attrWorker   = logkey.WorkerID
	attrErr      = logkey.Err
	attrStatus   = "status"
)

// Config configures New. The zero value works.
type Config struct {
	// Notify wakes the scaler of an endpoint: called when a request finds no
	// ready worker (a cold start) or a worker's load passes scalerValue.
	// It must not block. Default: none.
	Notify func(endpoint string)
	// Transport carries the proxied requests. Default: an http.Transport
	// keeping up to DefaultMaxIdlePerHost idle connections per worker.
	Transport http.RoundTripper
	// HealthInterval is how often a ready worker's /ping is polled. Default 2 s.
	HealthInterval time.Duration
	// PingTimeout bounds one /ping. Default 5 s.
	PingTimeout time.Duration
	// Observer counts requests, in-flight and latency per endpoint
	// (metrics). Default: none.
	Observer Observer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Observer hears about proxied requests.
type Observer interface {
	// LBEndpoint returns the observer of one endpoint's requests. It is
	// called when the endpoint is configured, not per request.
	LBEndpoint(endpoint string) EndpointObserver
}

// EndpointObserver hears about one endpoint's requests. Its methods are
// called concurrently.
type EndpointObserver interface {
	// Started: a request was accepted (it now counts as in flight).
	Started()
	// Done: it was answered with code (0: the client went away or the
	// stream broke after the headers) after d.
	Done(code int, d time.Duration)
}

// Pool routes the requests of load-balancing endpoints to their workers.
// Create it with New; Close stops its health polls.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client // for /ping
	bufs   bufferPool

	hosts atomic.Pointer[map[string]string] // host name -> endpoint

	mu        sync.Mutex
	endpoints map[string]*lbEndpoint
	seq       uint64 // request ids
	stopping  bool   // Stopping was called: requests finding no worker fail at once
	closed    bool
	wg        sync.WaitGroup
}

var _ scaler.LBPool = (*Pool)(nil)

// lbEndpoint is one endpoint's state. Fields are guarded by Pool.mu.
type lbEndpoint struct {
	cfg      config.Endpoint
	obs      EndpointObserver
	workers  map[string]*lbWorker
	waiters  map[uint64]time.Time // requests waiting for a ready worker, since
	changed  chan struct{}        // closed and replaced when a worker becomes ready
	failWith string               // crash loop: waiting requests fail with this
	removed  bool                 // a reload removed it; gone with its last worker
}

// New returns a pool with no endpoint.
func New(cfg Config) *Pool {
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.Transport == nil {
		cfg.Transport = newTransport()
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, endpoints: map[string]*lbEndpoint{}}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.client = &http.Client{Transport: newTransport(), Timeout: cfg.PingTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p
}

// newTransport is a transport for loopback workers: no proxy from the
// environment, no compression (bodies pass through as they are), many
// idle connections kept so that concurrent clients reuse them.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   DefaultMaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// Update sets the load-balancing endpoints (the others in eps are ignored).
// An endpoint no longer listed takes no new request (404); it is forgotten
// once its last worker has exited.
func (p *Pool) Update(eps []config.Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	listed := map[string]bool{}
	hosts := map[string]string{}
	for _, e := range eps {
		if e.IsLB() {
			listed[e.ID] = true
			if e.Host != "" {
				hosts[e.Host] = e.ID
			}
		}
	}
	p.hosts.Store(&hosts)
	for id, ep := range p.endpoints {
		ep.removed = !listed[id]
		if ep.removed && len(ep.workers) == 0 {
			delete(p.endpoints, id)
		}
	}
	for _, e := range eps {
		if !e.IsLB() {
			continue
		}
		ep := p.endpoints[e.ID]
		if ep == nil {
			ep = &lbEndpoint{workers: map[string]*lbWorker{}, waiters: map[uint64]time.Time{}, changed: make(chan struct{})}
			if p.cfg.Observer != nil {
				ep.obs = p.cfg.Observer.LBEndpoint(e.ID)
			}
			p.endpoints[e.ID] = ep
		}
		ep.cfg = e
	}
}

// Stopping says the server is shutting down: its workers drain, so
// requests that find no ready worker get a 503 at once instead of waiting
// for a cold start that will not come.
func (p *Pool) Stopping() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	for _, ep := range p.endpoints {
		ep.wake()
	}
}

// Close stops the health polls and waits for them.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	for _, ep := range p.endpoints {
		for _, w := range ep.workers {
			w.stopPolling()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// WorkerStarted implements scaler.LBPool: the worker is polled until its
// /ping answers 200, then it takes requests.
func (p *Pool) WorkerStarted(endpoint, workerID string, port, healthPort int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	if ep == nil || p.closed {
		return
	}
	w := newWorker(p, ep, workerID, port, healthPort)
	ep.workers[workerID] = w
	p.wg.Add(1)
	go p.poll(w)
}

// WorkerDraining implements scaler.WorkerLifecycle: the worker takes no new
// request; those in flight go on.
func (p *Pool) WorkerDraining(_ context.Context, endpoint, workerID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.worker(endpoint, workerID); w != nil {
		w.draining = true
	}
	return nil
}

// WorkerExited implements scaler.WorkerLifecycle: the worker is forgotten.
// Its requests still in flight fail on their own (502).
func (p *Pool) WorkerExited(_ context.Context, endpoint, workerID, why string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.worker(endpoint, workerID)
	if w == nil {
		return nil
	}
	w.exited, w.exitWhy = true, why
	w.healthy = false
	w.stopPolling()
	ep := p.endpoints[endpoint]
	delete(ep.workers, workerID)
	if ep.removed && len(ep.workers) == 0 {
		delete(p.endpoints, endpoint)
	}
	return nil
}

// EndpointForHost returns the load-balancing endpoint whose host name is
// host (a request's Host, with or without a port), if any.
func (p *Pool) EndpointForHost(host string) (string, bool) {
	m := p.hosts.Load()
	if m == nil || len(*m) == 0 {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	id, ok := (*m)[strings.ToLower(host)]
	return id, ok
}

// IsLB reports whether endpoint is a configured load-balancing endpoint.
func (p *Pool) IsLB(endpoint string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	return ep != nil && !ep.removed
}

// FailQueued implements scaler.QueueFailer: while reason is set the
// endpoint's waiting requests (and new ones finding no ready worker) get a
// 503 naming it at once.
func (p *Pool) FailQueued(_ context.Context, endpoint, reason string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	if ep == nil {
		return 0, nil
	}
	ep.failWith = reason
	n := len(ep.waiters)
	ep.wake()
	return n, nil
}

// worker returns a worker of endpoint, or nil. Called with p.mu held.
func (p *Pool) worker(endpoint, id string) *lbWorker {
	if ep := p.endpoints[endpoint]; ep != nil {
		return ep.workers[id]
	}
	return nil
}

// QueueStats implements scaler.Queue: requests waiting for a ready worker
// are Queued, requests in flight InProgress.
func (p *Pool) QueueStats(_ context.Context, endpoint string) (engine.QueueStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	if ep == nil {
		return engine.QueueStats{}, fmt.Errorf("lb endpoint %s: %w", endpoint, engine.ErrNotFound)
	}
	st := engine.QueueStats{Queued: len(ep.waiters)}
	now := time.Now()
	for _, since := range ep.waiters {
		st.OldestQueuedAge = max(st.OldestQueuedAge, now.Sub(since))
	}
	for _, w := range ep.workers {
		st.InProgress += len(w.requests)
	}
	if ep.failWith != "" && len(ep.waiters) == 0 {
		ep.failWith = "" // the crash loop is reported again at the next evaluation while it lasts
	}
	return st, nil
}

// Workers implements scaler.Queue: the workers whose last /ping answered
// 200, each with the requests it serves as Jobs.
func (p *Pool) Workers(_ context.Context, endpoint string) ([]engine.Worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	if ep == nil {
		return nil, fmt.Errorf("lb endpoint %s: %w", endpoint, engine.ErrNotFound)
	}
	out := make([]engine.Worker, 0, len(ep.workers))
	for _, w := range ep.workers {
		if !w.healthy {
			continue
		}
		ew := engine.Worker{ID: w.id, Endpoint: endpoint, LastSeen: w.lastOK}
		for id := range w.requests {
			ew.Jobs = append(ew.Jobs, "request-"+strconv.FormatUint(id, 10))
		}
		slices.Sort(ew.Jobs)
		out = append(out, ew)
	}
	return out, nil
}

// Load is one endpoint's request figures, for /health.
type Load struct {
	InFlight int // requests being served by workers
	Waiting  int // requests waiting for a ready worker
}

// Load returns endpoint's request figures; ok is false when it is not a
// load-balancing endpoint.
func (p *Pool) Load(endpoint string) (l Load, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[endpoint]
	if ep == nil {
		return Load{}, false
	}
	for _, w := range ep.workers {
		l.InFlight += len(w.requests)
	}
	l.Waiting = len(ep.waiters)
	return l, true
}

// wake tells the requests waiting on ep that something changed. Called with
// Pool.mu held.
func (ep *lbEndpoint) wake() {
	close(ep.changed)
	ep.changed = make(chan struct{})
}

// errNoWorker and friends are why a request got no worker.
var (
	errNoWorker   = errors.New("no worker became ready in time")
	errNoCapacity = errors.New("workersMax is 0")
	errStopping   = errors.New("sluice is shutting down")
)
