// Package server assembles `sluice serve`: it loads the config, opens the
// job engine, sets up client and worker keys, serves the /v2 API and shuts
// everything down gracefully. It reloads its config file on SIGHUP and on
// POST /v2/admin/reload (reload.go). GET /healthz and /readyz answer without
// a key (probes.go). It also computes the worker environment that
// `sluice worker-env` prints.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/openai"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/webhook"
)

// Defaults of Options.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultDataDir         = "./sluice-data"
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure Serve. The zero value serves one endpoint named
// "default" on 127.0.0.1:8080 with data in ./sluice-data.
type Options struct {
	// Addr is the listen address. Defaults to 127.0.0.1:8080. Without any
	// client API key configured only loopback addresses are allowed.
	Addr string
	// DataDir holds the embedded NATS storage and the generated worker keys.
	// Defaults to ./sluice-data.
	DataDir string
	// ConfigPath is the sluice.yaml to load (and reload on SIGHUP). Default:
	// none; endpoints then come from Endpoints.
	ConfigPath string
	// Endpoints are the endpoint ids to serve without a config file.
	// Defaults to ["default"]. Not allowed together with ConfigPath.
	Endpoints []string
	// NATSURL connects to an external NATS cluster. Default: embedded NATS.
	NATSURL string
	// StrictSync fsyncs every write of the embedded NATS. Default false.
	StrictSync bool
	// MaxStorage bounds the embedded NATS store in bytes. Default: the
	// config's maxStorage, else half of the free disk space plus what the
	// store holds (engine.DefaultMaxStorage).
	MaxStorage int64
	// Overrides replace config-file values (for flags and tests).
	Overrides Overrides
	// TakeHold is how long the worker API's long polls (job-take,
	// job-take-batch, job-stop) are held before 204. Defaults to 30 s.
	TakeHold time.Duration
	// ShutdownTimeout bounds graceful shutdown. Defaults to 10 s.
	ShutdownTimeout time.Duration
	// Hints, when set, receives a human-readable line at start with the curl
	// command that sends a job to the first endpoint. Default: none.
	Hints io.Writer
	// Ready, when set, is called with the bound address once the server
	// accepts connections.
	Ready func(addr string)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// NoMetrics turns the Prometheus metrics off: no /metrics, no counting
	// (for overhead measurements). Default false: GET /metrics is served
	// on Addr to a key that opens every endpoint.
	NoMetrics bool
	// MetricsAddr, when set, also serves GET /metrics on a listener of its
	// own, without a key. Default: none.
	MetricsAddr string
	// DebugAddr, when set, serves net/http/pprof under /debug/pprof/ on a
	// loopback address. Default: none.
	DebugAddr string
}

// Overrides replace values of the config file. Zero fields keep the file's
// values (or its defaults).
type Overrides struct {
	// PingInterval is the workers' RUNPOD_PING_INTERVAL.
	PingInterval time.Duration
	// WorkerLostAfter: a worker silent this long is lost. Default 3 × PingInterval.
	WorkerLostAfter time.Duration
	// Retention keeps /run results readable this long.
	Retention time.Duration
	// SyncRetention keeps /runsync results readable this long.
	SyncRetention time.Duration
	// MaxRetries caps requeues after a lost worker; nil keeps the file's value.
	MaxRetries *int
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Serve runs the server until ctx ends, then shuts down gracefully: long
// polls are released, in-flight requests finish (up to ShutdownTimeout) and
// the engine is closed. Every accepted job is durable in the engine before
// its id is returned, so a crash at any point loses none.
func Serve(ctx context.Context, opts Options) error {
	opts.defaults()
	log := opts.Logger
	s, err := loadSettings(opts.ConfigPath, opts.Endpoints, opts.Overrides)
	if err != nil {
		return err
	}
	keys, err := s.apiKeys(opts.DataDir)
	if err != nil {
		return err
	}
	cur := new(atomic.Pointer[live])
	cur.Store(newLive(s, keys))
	if open := cur.Load().openEndpoints(); len(open) > 0 {
		if !isLoopback(opts.Addr) {
			return fmt.Errorf("refusing to listen on %s: no client API key is configured for endpoint(s) %v, so anyone who can reach the port could submit jobs; set apiKeys in the config file or %s, or listen on 127.0.0.1", opts.Addr, open, EnvAPIKeys)
		}
		log.Warn("no client API key configured: the client API accepts requests without a key, so Sluice listens on loopback only; set apiKeys or "+EnvAPIKeys+" to listen elsewhere",
			attrEndpoints, open)
	}

	if opts.DebugAddr != "" && !isLoopback(opts.DebugAddr) {
		return fmt.Errorf("refusing to serve pprof on %s: --debug-addr takes a loopback address (127.0.0.1:PORT)", opts.DebugAddr)
	}
	if opts.NoMetrics && opts.MetricsAddr != "" {
		return errors.New("a metrics address was given with metrics turned off")
	}
	var met *metrics.Metrics
	series := console.NewSeries(nil) // the console's charts
	observer := observers{series}
	if !opts.NoMetrics {
		met = metrics.New(log)
		observer = append(observer, met)
	}

	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	gd, err := newGuards(s.file)
	if err != nil {
		return err
	}
	eng, err := engine.Open(ctx, engine.Config{
		DataDir:         opts.DataDir,
		NATSURL:         opts.NATSURL,
		StrictSync:      opts.StrictSync,
		MaxStorage:      cmp.Or(opts.MaxStorage, int64(s.file.MaxStorage)),
		Retention:       s.retention,
		SyncRetention:   s.syncRetention,
		PingInterval:    s.pingInterval,
		WorkerLostAfter: opts.Overrides.WorkerLostAfter,
		MaxRetries:      s.maxRetries,
		Endpoints:       s.engineEndpoints(),
		Logger:          log,
		Observer:        observer,
	})
	if err != nil {
		return fmt.Errorf("open job engine: %w", err)
	}
	defer func() {
		if cerr := eng.Close(); cerr != nil {
			log.Error("close job engine", attrErr, cerr)
		}
	}()
	// Webhooks are sent by their own part from the deliveries the engine
	// records; it stops before the engine closes (deferred later).
	hooks, err := webhook.Start(ctx, eng, webhook.Config{
		Timeout: webhookTimeout, Client: gd.webhook.Client(webhookTimeout), Logger: log, Observer: webhookObserver(met),
	})
	if err != nil {
		return fmt.Errorf("start webhooks: %w", err)
	}
	defer hooks.Close()

	// The supervisor starts the workers of endpoints with a command, with
	// the RUNPOD_* environment pointing at this server.
	dr := newDrains()
	sid, err := serverID(opts.DataDir)
	if err != nil {
		return err
	}
	var sup *scaler.Supervisor
	lb := newLBPool(&sup, met, log) // load-balancing endpoints (lb.go)
	defer lb.Close()
	lb.Update(s.file.Endpoints)
	scfg := scaler.Config{
		BaseURL: BaseURL(addr), Queue: lifecycleQueue{Engine: eng, d: dr}, DataDir: opts.DataDir,
		PingInterval: s.pingInterval, LostAfter: opts.Overrides.WorkerLostAfter, Logger: log, LB: lb, ServerID: sid,
	}
	if met != nil {
		scfg.Observer = met
	}
	sup, err = scaler.New(scfg)
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	if err := sup.Update(ctx, cur.Load().supervised()); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	supCtx, stopSup := context.WithCancel(context.WithoutCancel(ctx))
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()
	// On every return the workers stop first, while the worker API still
	// serves, so draining workers can post their results.
	stopWorkers := sync.OnceFunc(func() {
		stopSup()
		if err := <-supDone; err != nil {
			log.Error("supervisor", attrErr, err)
		}
	})
	defer stopWorkers()

	// baseCtx ends before Shutdown so that long polls (job-take, job-stop,
	// runsync, stream) return at once instead of holding shutdown up.
	baseCtx, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()
	// Reloads (SIGHUP, POST /v2/admin/reload) swap cur and the API's keys.
	rl := &reloader{opts: opts, cur: cur, eng: eng, sup: sup, lb: lb, guards: gd, log: log}
	hooked := hookedEngine{Engine: eng, sup: sup, cur: cur, drains: dr, waits: newWaits(), lb: lb}
	var apiEngine api.Engine = hooked
	ext := extensions(cur, eng, sup, rl)
	ext.LB = lb.ServeLB
	if met != nil {
		apiEngine = metricsEngine{hookedEngine: hooked, m: met}
		met.WatchGauges(metricsSources(cur, eng, sup))
		ext.Metrics = met.Handler()
	}
	rl.api = api.New(api.Config{
		Engine:       apiEngine,
		Keys:         keys,
		TakeHold:     opts.TakeHold,
		StopHold:     opts.TakeHold,
		WebhookCheck: gd.webhook.CheckURL,
		Limiter:      gd.limits,
		Extensions:   ext,
		Logger:       log,
	})
	// issue 16: OpenAI-compatible routes (/v2/{endpoint}/openai/v1/...), on the same keys.
	rl.api.Mount(openai.Pattern, openai.New(openai.Config{Engine: apiEngine, Check: rl.api.CheckClient, Logger: log}))
	handler := lbHosts(rl.api, lb) // LB endpoints' host names (lb.go)
	if met != nil {
		handler = met.Instrument(handler)
	}
	// The web console at / (every path it does not serve goes to the API).
	handler = newConsole(cur, handler, rl.api, series, opts)
	sides, err := startSides(opts, met, log)
	if err != nil {
		return err
	}
	defer shutdownSides(sides, log)
	stopHUP := rl.watchHUP(baseCtx)
	defer stopHUP()
	// /healthz and /readyz answer without a key (probes.go).
	pr := &probes{eng: eng, cur: cur, log: log}
	srv := &http.Server{
		Handler:           pr.handler(handler),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // a 20 MiB body on a slow link; long polls are not reads
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(jsonErrors(ln)) }()
	ids := make([]string, 0, len(s.file.Endpoints))
	for _, ep := range s.file.Endpoints {
		ids = append(ids, ep.ID)
	}
	warnUnmanaged(s.file.Endpoints, log, opts.Hints)
	log.Info("sluice serving", attrAddr, "http://"+addr, attrEndpoints, ids, attrDataDir, opts.DataDir)
	logSides(sides, log)
	if opts.Hints != nil && len(ids) > 0 {
		auth := ""
		if !keys.Open(ids[0]) {
			auth = ` -H "Authorization: Bearer $SLUICE_API_KEY"`
		}
		fmt.Fprintf(opts.Hints, "\nSluice is serving endpoint(s) %s on http://%s. Send a job:\n\n  curl -s -X POST http://%s/v2/%s/runsync%s -d '{\"input\": {\"hello\": \"world\"}}'\n\n",
			strings.Join(ids, ", "), addr, addr, ids[0], auth)
		fmt.Fprintf(opts.Hints, "The web console is at http://%s/\n\n", addr)
	}
	if opts.Ready != nil {
		opts.Ready(addr)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: stopping workers")
	pr.stopping.Store(true)
	stopHUP()
	lb.Stopping()
	stopWorkers()
	release()
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// errKeyClash marks a worker key that is also a client key.
var errKeyClash = errors.New("worker keys and client keys must differ")

// apiKeys are the client and worker keys of s.
func (s *settings) apiKeys(dataDir string) (api.Keys, error) {
	wk, err := workerKeys(dataDir, s.file)
	if err != nil {
		return api.Keys{}, err
	}
	k := api.Keys{Client: s.clientKeys(), Worker: wk, EndpointClient: map[string][]string{}}
	for _, ep := range s.file.Endpoints {
		if len(ep.APIKeys) > 0 {
			k.EndpointClient[ep.ID] = ep.APIKeys
		}
	}
	// A key that is both would open nothing on the client API (worker keys
	// are refused there): say so at start rather than answer 401s.
	for ep, w := range wk {
		if slices.Contains(k.Client, w) || slices.ContainsFunc(s.file.Endpoints, func(e config.Endpoint) bool { return slices.Contains(e.APIKeys, w) }) {
			return api.Keys{}, fmt.Errorf("the worker key of endpoint %s is also a client API key: %w", ep, errKeyClash)
		}
	}
	return k, nil
}

// webhookObserver is met as a webhook.Observer, or nil without metrics.
func webhookObserver(met *metrics.Metrics) webhook.Observer {
	if met == nil {
		return nil
	}
	return met
}
