package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/lbproxy"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/scaler"
)

// newLBPool is the proxy of load-balancing endpoints: it wakes the
// supervisor (*sup, set before any request arrives) on a cold start and
// counts requests in met when metrics are on.
func newLBPool(sup **scaler.Supervisor, met *metrics.Metrics, log *slog.Logger) *lbproxy.Pool {
	cfg := lbproxy.Config{
		Notify: func(endpoint string) {
			if s := *sup; s != nil {
				s.Notify(endpoint)
			}
		},
		Logger: log,
	}
	if met != nil {
		cfg.Observer = met
	}
	return lbproxy.New(cfg)
}

// errLBEndpoint refuses a queue route on a load-balancing endpoint.
func errLBEndpoint(endpoint string) error {
	return fmt.Errorf("endpoint %s is a load-balancing endpoint (type LB): send requests to /lb/%s/{path}, not to its queue: %w",
		endpoint, endpoint, engine.ErrInvalid)
}

// lbHealth puts the requests of a load-balancing endpoint in /health's job
// counts: in flight as inProgress, waiting for a worker as inQueue.
func lbHealth(pool *lbproxy.Pool, endpoint string, hl engine.Health) engine.Health {
	if pool == nil {
		return hl
	}
	if l, ok := pool.Load(endpoint); ok {
		hl.Jobs.InProgress, hl.Jobs.InQueue = l.InFlight, l.Waiting
	}
	return hl
}

// lbSubmitCheck refuses jobs for a load-balancing endpoint.
func lbSubmitCheck(_ context.Context, pool *lbproxy.Pool, endpoint string) error {
	if pool != nil && pool.IsLB(endpoint) {
		return errLBEndpoint(endpoint)
	}
	return nil
}

// lbHosts serves the requests for a load-balancing endpoint's host name
// (its host field) as /lb/{id}/PATH, before routing, auth and metrics.
func lbHosts(next http.Handler, pool *lbproxy.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pool.EndpointForHost(r.Host); ok {
			prefix := lbproxy.PathPrefix + id
			r.URL.Path = prefix + r.URL.Path
			if r.URL.RawPath != "" {
				r.URL.RawPath = prefix + r.URL.RawPath
			}
		}
		next.ServeHTTP(w, r)
	})
}
