package lbproxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"
)

// lbWorker is one worker of a load-balancing endpoint. Fields below proxy
// are guarded by Pool.mu.
type lbWorker struct {
	p        *Pool
	ep       *lbEndpoint
	endpoint string // ep's id
	id       string
	addr     string // 127.0.0.1:PORT
	pingURL  string // http://127.0.0.1:PORT_HEALTH/ping
	proxy    *httputil.ReverseProxy
	ctx      context.Context // ends when the worker is forgotten
	cancel   context.CancelFunc
	recheck  chan struct{} // poll /ping now

	requests  map[uint64]struct{} // in flight
	healthy   bool                // the last /ping answered 200 and no request failed since
	everReady bool
	draining  bool
	exited    bool
	exitWhy   string
	lastOK    time.Time
}

func newWorker(p *Pool, ep *lbEndpoint, id string, port, healthPort int) *lbWorker {
	w := &lbWorker{
		p: p, ep: ep, endpoint: ep.cfg.ID, id: id,
		addr:     "127.0.0.1:" + strconv.Itoa(port),
		pingURL:  "http://127.0.0.1:" + strconv.Itoa(healthPort) + "/ping",
		recheck:  make(chan struct{}, 1),
		requests: map[uint64]struct{}{},
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.proxy = &httputil.ReverseProxy{
		Rewrite:      w.rewrite,
		Transport:    p.cfg.Transport,
		BufferPool:   &p.bufs,
		ErrorHandler: w.proxyError,
		ErrorLog:     slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	return w
}

// inRotation reports whether w takes new requests. Called with Pool.mu held.
func (w *lbWorker) inRotation() bool {
	return w.healthy && !w.draining && !w.exited
}

// stopPolling ends w's health poll. Called with Pool.mu held.
func (w *lbWorker) stopPolling() { w.cancel() }

// poll asks w's /ping until w is forgotten: quickly (with back-off) until it
// answers 200 and whenever it is out of rotation, every HealthInterval
// while it is in.
func (p *Pool) poll(w *lbWorker) {
	defer p.wg.Done()
	delay := firstPollDelay
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		case <-w.recheck:
		}
		code, err := p.ping(w)
		if w.ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		switch {
		case code == http.StatusOK:
			w.lastOK = time.Now()
			if !w.healthy {
				w.healthy = true
				msg := "load-balancing worker back in rotation"
				if !w.everReady {
					msg = "load-balancing worker ready"
				}
				w.everReady = true
				p.log.Info(msg, attrEndpoint, w.endpoint, attrWorker, w.id)
				w.ep.wake()
			}
		case code == http.StatusNoContent && !w.everReady:
			// Initializing: not in rotation yet.
		default:
			if w.healthy {
				w.healthy = false
				p.log.Warn("load-balancing worker unhealthy: out of rotation", attrEndpoint, w.endpoint, attrWorker, w.id,
					attrStatus, code, attrErr, err)
			}
		}
		next := p.cfg.HealthInterval
		if w.healthy {
			delay = firstPollDelay
		} else {
			delay = min(delay*2, p.cfg.HealthInterval)
			next = delay
		}
		p.mu.Unlock()
		t.Reset(next)
	}
}

// ping asks w's GET /ping and returns the status code, or 0 and the error.
func (p *Pool) ping(w *lbWorker) (int, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, w.pingURL, nil)
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", w.id, err)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", w.id, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode, nil
}

// failed takes w out of rotation after a request to it failed and asks
// for a /ping at once: it is back when that answers 200.
func (p *Pool) failed(w *lbWorker, err error) {
	p.mu.Lock()
	if w.healthy {
		w.healthy = false
		p.log.Warn("load-balancing worker failed a request: out of rotation until its /ping answers 200",
			attrEndpoint, w.endpoint, attrWorker, w.id, attrErr, err)
	}
	p.mu.Unlock()
	select {
	case w.recheck <- struct{}{}:
	default:
	}
}
