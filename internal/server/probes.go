package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// Probe routes, served without a key on the main listener.
const (
	routeHealthz = "/healthz"
	routeReadyz  = "/readyz"
	// readyTimeout bounds the engine check of one /readyz request.
	readyTimeout = 2 * time.Second
	// readyRetryAfter is the Retry-After of a 503 /readyz, in seconds.
	readyRetryAfter = 2
	attrReason      = "reason"
	attrCause       = "err"
)

// Reasons /readyz gives when it answers 503.
const (
	reasonShuttingDown = "shutting down"
	reasonNoConfig     = "config not loaded"
	reasonEngineClosed = "job engine closed"
	reasonEngineDown   = "job engine (NATS JetStream) unreachable"
)

// probeBody is the JSON of both probes: {"status":"ok"|"ready"|"unavailable"}
// with the reason of an unavailable server and the number of endpoints of a
// ready one.
type probeBody struct {
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	Endpoints int    `json:"endpoints,omitempty"`
}

// probes serve /healthz (the process answers) and /readyz (it can take
// traffic: config loaded, job engine reachable, not shutting down).
type probes struct {
	eng interface {
		Reachable(ctx context.Context) error
	}
	cur      *atomic.Pointer[live]
	stopping atomic.Bool // set when shutdown begins
	log      *slog.Logger
}

// handler serves the probes and passes every other request to next as it
// came (no ServeMux in front: it would clean and redirect the API's paths).
func (p *probes) handler(next http.Handler) http.Handler {
	healthz, readyz := getOnly(p.healthz), getOnly(p.readyz)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case routeHealthz:
			healthz(w, r)
		case routeReadyz:
			readyz(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// getOnly answers 405 with a JSON error to anything but GET and HEAD (the
// API behind the probes would answer 404 otherwise).
func getOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"error":"method not allowed: use GET"}` + "\n"))
			return
		}
		h(w, r)
	}
}

func (p *probes) healthz(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, probeBody{Status: "ok"})
}

func (p *probes) readyz(w http.ResponseWriter, r *http.Request) {
	l := p.cur.Load()
	switch {
	case p.stopping.Load():
		p.unready(w, reasonShuttingDown, nil)
		return
	case l == nil:
		p.unready(w, reasonNoConfig, nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := p.eng.Reachable(ctx); err != nil {
		reason := reasonEngineDown
		if errors.Is(err, engine.ErrClosed) {
			reason = reasonEngineClosed
		}
		p.unready(w, reason, err)
		return
	}
	writeProbe(w, http.StatusOK, probeBody{Status: "ready", Endpoints: len(l.s.file.Endpoints)})
}

// unready answers 503 with reason; the cause, if any, goes to the log only.
func (p *probes) unready(w http.ResponseWriter, reason string, cause error) {
	if cause != nil {
		p.log.Warn("readyz: not ready", attrReason, reason, attrCause, cause)
	}
	w.Header().Set("Retry-After", strconv.Itoa(readyRetryAfter))
	writeProbe(w, http.StatusServiceUnavailable, probeBody{Status: "unavailable", Reason: reason})
}

func writeProbe(w http.ResponseWriter, code int, b probeBody) {
	out, _ := json.Marshal(b) // a struct of strings and an int always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(out, '\n'))
}
