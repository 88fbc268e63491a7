package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/scaler"
)

// metricsSources reads the scrape-time gauges: queue figures from the
// shared engine, worker counts from the supervisor for the endpoints whose
// workers this replica runs, and from the engine for the others.
func metricsSources(cur *atomic.Pointer[live], eng *engine.Engine, sup *scaler.Supervisor) metrics.Sources {
	return metrics.Sources{
		Endpoints: func() []string {
			f := cur.Load().s.file
			ids := make([]string, 0, len(f.Endpoints))
			for _, ep := range f.Endpoints {
				ids = append(ids, ep.ID)
			}
			return ids
		},
		Queue: eng.QueueStats,
		Workers: func(ctx context.Context, endpoint string) (engine.WorkerCounts, error) {
			if cur.Load().managed[endpoint] {
				return sup.Counts(endpoint), nil
			}
			ws, err := eng.Workers(ctx, endpoint)
			if err != nil {
				return engine.WorkerCounts{}, fmt.Errorf("workers of %s: %w", endpoint, err)
			}
			return addExternal(engine.WorkerCounts{}, ws, func(string) bool { return false }), nil
		},
	}
}

// metricsEngine counts submitted jobs and records the queue delay of the
// jobs workers take; the engine itself reports terminal transitions.
type metricsEngine struct {
	hookedEngine
	m *metrics.Metrics
}

func (e metricsEngine) Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error) {
	j, err := e.hookedEngine.Submit(ctx, endpoint, req)
	if err == nil {
		e.m.JobSubmitted(endpoint)
	}
	return j, err
}

func (e metricsEngine) Take(ctx context.Context, endpoint, workerID string, n int) ([]*engine.Job, error) {
	jobs, err := e.hookedEngine.Take(ctx, endpoint, workerID, n)
	for _, j := range jobs {
		e.m.JobStarted(j)
	}
	return jobs, err
}

// sideServer is an extra listener: metrics without a key, or pprof.
type sideServer struct {
	name string
	addr string
	srv  *http.Server
	done chan error
}

// startSide serves h on addr until shutdown. The caller logs its address
// after the main listener's (tools read the first addr= of the log).
func startSide(name, addr string, h http.Handler, log *slog.Logger) (*sideServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", name, err)
	}
	s := &sideServer{name: name, addr: ln.Addr().String(), done: make(chan error, 1), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// shutdown stops s, waiting for its requests up to ctx.
func (s *sideServer) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("shut down %s: %w", s.name, err)
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// metricsMux serves the metrics at /metrics, with no key.
func metricsMux(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// debugMux serves net/http/pprof under /debug/pprof/.
func debugMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startSides starts the metrics and debug listeners opts asks for.
func startSides(opts Options, met *metrics.Metrics, log *slog.Logger) ([]*sideServer, error) {
	var sides []*sideServer
	if opts.MetricsAddr != "" {
		s, err := startSide("metrics", opts.MetricsAddr, metricsMux(met), log)
		if err != nil {
			return nil, err
		}
		sides = append(sides, s)
	}
	if opts.DebugAddr != "" {
		s, err := startSide("pprof", opts.DebugAddr, debugMux(), log)
		if err != nil {
			shutdownSides(sides, log)
			return nil, err
		}
		sides = append(sides, s)
	}
	return sides, nil
}

// logSides logs the address of each side listener.
func logSides(sides []*sideServer, log *slog.Logger) {
	for _, s := range sides {
		log.Info(s.name+" listening", attrAddr, "http://"+s.addr)
	}
}

// shutdownSides stops the side listeners (a running profile is cut short).
func shutdownSides(sides []*sideServer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range sides {
		if err := s.shutdown(ctx); err != nil {
			log.Warn("stop listener", attrErr, err)
		}
	}
}
