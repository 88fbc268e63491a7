package lbproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// PathPrefix is where load-balancing endpoints are served:
// PathPrefix + "{endpoint}/{path}" goes to a worker as "/{path}".
const PathPrefix = "/lb/"

// HeaderWorkerID names the worker that served a request, as on Runpod. A
// request carrying the id of a ready worker goes to that worker (soft
// affinity).
const HeaderWorkerID = "X-Runpod-Worker-Id"

// errRequestTimeout is the cause of a request's context ending at the
// endpoint's requestTimeoutSeconds.
var errRequestTimeout = errors.New("request timeout")

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

// ServeLB proxies r to a ready worker of endpoint, which the caller has
// authorized. r's path is PathPrefix + endpoint + the worker's path.
func (p *Pool) ServeLB(w http.ResponseWriter, r *http.Request, endpoint string) {
	start := time.Now()
	p.mu.Lock()
	ep := p.endpoints[endpoint]
	var obs EndpointObserver
	var timeout time.Duration
	removed := ep != nil && ep.removed
	if ep != nil {
		obs, timeout = ep.obs, ep.cfg.RequestTimeout()
	}
	p.mu.Unlock()
	switch {
	case removed:
		writeError(w, http.StatusNotFound, "endpoint "+endpoint+" was removed from the config (or is no longer of type LB): it takes no new requests")
		return
	case ep == nil:
		writeError(w, http.StatusNotFound, "endpoint "+endpoint+" is not a load-balancing endpoint (type LB): its API is /v2/"+endpoint+"/run, /runsync, ...")
		return
	}
	rec := recorders.Get().(*recorder)
	rec.ResponseWriter, rec.code = w, 0
	defer func() {
		if obs != nil {
			obs.Done(rec.code, time.Since(start))
		}
		rec.ResponseWriter = nil
		recorders.Put(rec)
	}()
	if obs != nil {
		obs.Started()
	}

	wk, id, err := p.acquire(r.Context(), ep, endpoint, r.Header.Get(HeaderWorkerID))
	if err != nil {
		p.noWorker(rec, r, endpoint, err)
		return
	}
	defer p.release(wk, id)
	rec.Header()[HeaderWorkerID] = []string{wk.id}

	if r.Header.Get("Upgrade") != "" {
		// A relayed connection (WebSocket) lasts up to the request timeout,
		// not the server's read timeout for request bodies.
		rc := http.NewResponseController(rec)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), timeout, errRequestTimeout)
	defer cancel()
	wk.proxy.ServeHTTP(rec, r.WithContext(ctx)) // rewrite strips the path prefix
}

// workerPath is path without PathPrefix+endpoint: the path on the worker.
func workerPath(path, endpoint string) string {
	if path == "" {
		return ""
	}
	rest, ok := strings.CutPrefix(path, PathPrefix+endpoint)
	switch {
	case !ok || (rest != "" && rest[0] != '/'): // another endpoint's path
		return path
	case rest == "":
		return "/"
	}
	return rest
}

// acquire picks the ready worker of ep with the fewest requests in flight
// (or prefer, when it is a ready worker) and counts the request on it. With
// none ready it waits, having woken the scaler, up to the endpoint's cold
// start timeout.
func (p *Pool) acquire(ctx context.Context, ep *lbEndpoint, name, prefer string) (*lbWorker, uint64, error) {
	var waitID uint64
	var timer *time.Timer
	p.mu.Lock()
	for {
		if w := ep.pick(prefer); w != nil {
			p.seq++
			id := p.seq
			w.requests[id] = struct{}{}
			if waitID != 0 {
				delete(ep.waiters, waitID)
			}
			busy := len(w.requests) > ep.cfg.ScalerValue
			p.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			if busy {
				p.notify(name)
			}
			return w, id, nil
		}
		var err error
		switch {
		case ep.failWith != "":
			err = errors.New(ep.failWith)
		case ep.cfg.WorkersMax == 0:
			err = errNoCapacity
		case p.stopping:
			err = errStopping
		}
		if err != nil {
			if waitID != 0 {
				delete(ep.waiters, waitID)
			}
			p.mu.Unlock()
			return nil, 0, err
		}
		first := waitID == 0
		if first {
			p.seq++
			waitID = p.seq
			ep.waiters[waitID] = time.Now()
			timer = time.NewTimer(ep.cfg.ColdStartTimeout())
		}
		changed := ep.changed
		p.mu.Unlock()
		if first {
			p.notify(name)
		}
		select {
		case <-changed:
		case <-timer.C:
			err = errNoWorker
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		if err != nil {
			delete(ep.waiters, waitID)
			p.mu.Unlock()
			timer.Stop()
			return nil, 0, err
		}
	}
}

// pick returns the worker prefer if it is ready, else the ready worker with
// the fewest requests in flight, or nil. Called with Pool.mu held.
func (ep *lbEndpoint) pick(prefer string) *lbWorker {
	if w := ep.workers[prefer]; prefer != "" && w != nil && w.inRotation() {
		return w
	}
	var best *lbWorker
	for _, w := range ep.workers {
		if w.inRotation() && (best == nil || len(w.requests) < len(best.requests)) {
			best = w
		}
	}
	return best
}

// release ends request id on w.
func (p *Pool) release(w *lbWorker, id uint64) {
	p.mu.Lock()
	delete(w.requests, id)
	p.mu.Unlock()
}

func (p *Pool) notify(endpoint string) {
	if p.cfg.Notify != nil {
		p.cfg.Notify(endpoint)
	}
}

// noWorker answers a request that got no worker.
func (p *Pool) noWorker(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	if r.Context().Err() != nil {
		return // the client went away while waiting
	}
	p.mu.Lock()
	var starting, timeout int
	if ep := p.endpoints[endpoint]; ep != nil {
		timeout = ep.cfg.ColdStartTimeoutSeconds
		for _, wk := range ep.workers {
			if !wk.healthy && !wk.exited {
				starting++
			}
		}
	}
	p.mu.Unlock()
	w.Header().Set("Retry-After", retryAfter)
	switch {
	case errors.Is(err, errNoWorker):
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"no worker of endpoint %s became ready within %d s (coldStartTimeoutSeconds; %d starting or unhealthy): a worker is ready when GET /ping on its PORT_HEALTH answers 200; see `sluice logs %s`",
			endpoint, timeout, starting, endpoint))
	case errors.Is(err, errNoCapacity):
		writeError(w, http.StatusServiceUnavailable, "endpoint "+endpoint+" has workersMax 0: no worker will start")
	default:
		writeError(w, http.StatusServiceUnavailable, "no worker of endpoint "+endpoint+" can take requests: "+err.Error())
	}
}

// rewrite sends the request to w, without PathPrefix and the endpoint in
// its path and without the client's API key.
func (w *lbWorker) rewrite(pr *httputil.ProxyRequest) {
	u := pr.Out.URL // a copy of the incoming URL
	u.Path, u.RawPath = workerPath(u.Path, w.endpoint), workerPath(u.RawPath, w.endpoint)
	u.Scheme, u.Host = "http", w.addr
	pr.Out.Host = ""
	pr.Out.Header.Del("Authorization")
	pr.SetXForwarded()
}

// proxyError answers a request whose worker did not answer: 504 at the
// request timeout, else 502 (and the worker leaves the rotation until its
// /ping answers 200 again). Nothing is written when the client went away.
func (w *lbWorker) proxyError(rw http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	switch {
	case errors.Is(context.Cause(ctx), errRequestTimeout):
		w.p.mu.Lock()
		timeout := w.ep.cfg.RequestTimeoutSeconds
		w.p.mu.Unlock()
		writeError(rw, http.StatusGatewayTimeout, fmt.Sprintf(
			"worker %s of endpoint %s did not answer within %d s (requestTimeoutSeconds)", w.id, w.endpoint, timeout))
	case ctx.Err() != nil:
		return
	default:
		w.p.failed(w, err)
		w.p.mu.Lock()
		why := w.exitWhy
		w.p.mu.Unlock()
		msg := fmt.Sprintf("worker %s of endpoint %s failed mid-request (%v)", w.id, w.endpoint, unwrapOp(err))
		if why != "" {
			msg += ": " + why
		}
		writeError(rw, http.StatusBadGateway, msg+"; the request was not retried; see `sluice logs "+w.endpoint+" --worker "+w.id+"`")
	}
}

// unwrapOp shortens a transport error to its cause (no URL).
func unwrapOp(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(wire.ErrorBody{Error: msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// recorder remembers the status code written, for the observer. Unwrap
// lets http.ResponseController (the proxy's flushes and upgrades) reach
// the writer underneath.
type recorder struct {
	http.ResponseWriter
	code int
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bufferPool lends the proxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v := b.p.Get(); v != nil {
		return *v.(*[]byte)
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
