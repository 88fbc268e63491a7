// Package bench measures a real Sluice server with real no-op workers on
// the serverless SDK, over loopback HTTP: /run throughput to completion,
// /runsync latency against a direct HTTP call to the same handler, and the
// time from /run to the handler's start on an idle worker. It then measures
// the throughput of the protocol floor (floor.go), an in-memory server
// answering the same HTTP exchanges with no engine, with the same workers
// and clients.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/wire"
	"github.com/sluicehq/sluice/serverless"
)

// attrErr is the log attribute key of an error.
const attrErr = "err"

const endpoint = "bench"

// Options configure Run. The zero value runs a small, quick benchmark.
type Options struct {
	// Workers is the number of worker processes. Defaults to 4.
	Workers int
	// Jobs is the number of /run jobs in the throughput phase. Defaults to 2000.
	Jobs int
	// Concurrency is the number of concurrent clients in the throughput
	// phase. Defaults to 32.
	Concurrency int
	// Samples is the number of sequential requests in each latency phase.
	// Defaults to 200.
	Samples int
	// WorkerCommand starts one worker process (the RUNPOD_* environment is
	// added). Required; `sluice bench` uses its own hidden bench-worker command.
	WorkerCommand []string
	// WorkerConcurrency is how many jobs each worker runs at once; above 1
	// the workers take jobs with job-take-batch. Defaults to 1.
	WorkerConcurrency int
	// WorkerEnv is extra environment for the worker processes.
	WorkerEnv []string
	// WorkerProfile, if set, returns extra environment for Sluice's worker
	// i (used to ask each worker for its own CPU profile). The protocol
	// floor's workers are not given it.
	WorkerProfile func(i int) []string
	// AfterSluice, if set, is called once the Sluice phases are done and
	// Sluice's server and workers have stopped, before the protocol floor
	// phase (used to end a CPU profile of Sluice's server).
	AfterSluice func()
	// Logger receives the server's log. Defaults to discarding it.
	Logger *slog.Logger
	// NoMetrics runs Sluice's server with its Prometheus metrics off.
	// Default false: metrics on, and /metrics scraped every MetricsScrape
	// during the Sluice phases, as a Prometheus would.
	NoMetrics bool
	// ServerCommand, if set, runs Sluice's server in a child process:
	// ServerCommand followed by `serve --addr ADDR --data-dir DIR --endpoint
	// bench` (a sluice binary, possibly another build). FloorCommand, if
	// set, runs the protocol floor in a child process: FloorCommand followed
	// by ADDR (`sluice bench` uses its hidden `bench-child floor`). The
	// servers' CPU time per job and memory are measured from /proc only for
	// children; by default both run in this process.
	ServerCommand, FloorCommand []string
	// ChildEnv is extra environment for the child servers.
	ChildEnv []string
	// ChildOutput receives the child servers' output. Default: discarded.
	ChildOutput io.Writer
	// Backlog, if above zero, adds the backlog phases at the end: Backlog
	// jobs are submitted with no worker running, then drained by the
	// workers; then as many are submitted again and purged.
	Backlog int
}

// MetricsScrape is how often the bench scrapes /metrics while it measures
// Sluice (Prometheus's default is 15 s: this is a harsher load).
const MetricsScrape = time.Second

// Report holds the figures of one run.
type Report struct {
	Workers, WorkerConcurrency, Jobs, Concurrency, Samples int
	// Throughput is /run jobs per second, from the first submit to the last completion.
	Throughput float64
	// CPUPerJob is the CPU time the bench process (server, engine and
	// clients; not the workers) used per job in the throughput phase: less
	// sensitive than Throughput to other load on the machine.
	CPUPerJob time.Duration
	// FloorThroughput is the same throughput phase against the protocol
	// floor: an in-memory server answering the same HTTP exchanges with no
	// engine, no persistence and no auth, with the same workers.
	FloorThroughput float64
	// RunsyncP50 and RunsyncP99 are /runsync latencies of a no-op job.
	RunsyncP50, RunsyncP99 time.Duration
	// DirectP50 and DirectP99 are the same handler called over plain HTTP.
	DirectP50, DirectP99 time.Duration
	// StartP50 and StartP99 are /run-to-handler-start times on an idle worker.
	StartP50, StartP99 time.Duration
	// Metrics says whether the server's metrics were on; Scrapes is how
	// many times /metrics was scraped meanwhile.
	Metrics bool
	Scrapes int
	// ServerCPU and FloorCPU are the server processes' CPU time per job in
	// the throughput phase (zero unless Options.ChildCommand is set).
	ServerCPU, FloorCPU time.Duration
	// Backlog figures (Options.Backlog): the submit rate with no worker, the
	// server's resident memory per queued job, the drain rate and the server's
	// CPU per job while draining, and how long purge-queue took.
	Backlog               int
	SubmitRate, DrainRate float64
	RSSPerQueued          float64
	DrainCPU              time.Duration
	PurgeTime             time.Duration
	Purged                int
}

// Handler is the benchmark's no-op handler: it returns the time it started
// (Unix ns), so the /run-to-start latency can be measured.
func Handler(ctx context.Context, job *serverless.Job) (any, error) {
	return map[string]int64{"started_ns": time.Now().UnixNano()}, nil
}

// WorkerConcurrencyEnv is the environment variable that tells WorkerMain
// how many jobs to run at once (a whole number >= 1; 1 when unset).
const WorkerConcurrencyEnv = "SLUICE_BENCH_WORKER_CONCURRENCY"

// WorkerMain runs the no-op worker with the RUNPOD_* environment of the
// process until ctx ends, and returns its exit code.
func WorkerMain(ctx context.Context) int {
	cfg := serverless.Config{Handler: Handler, Args: []string{}, Logger: slog.New(slog.DiscardHandler)}
	if v := os.Getenv(WorkerConcurrencyEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench worker: %s=%q is not a whole number >= 1\n", WorkerConcurrencyEnv, v)
			return 2
		}
		cfg.ConcurrencyModifier = func(int) int { return n }
	}
	return serverless.Run(ctx, cfg)
}

func (o *Options) defaults() error {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Jobs <= 0 {
		o.Jobs = 2000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Samples <= 0 {
		o.Samples = 200
	}
	if o.WorkerConcurrency <= 0 {
		o.WorkerConcurrency = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.WorkerCommand) == 0 {
		return errors.New("bench: WorkerCommand is required")
	}
	return nil
}

// Run starts a server on a free loopback port with a temporary data
// directory, starts the workers, measures, and stops everything; then it
// measures the protocol floor with as many workers.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Workers: opts.Workers, WorkerConcurrency: opts.WorkerConcurrency, Jobs: opts.Jobs, Concurrency: opts.Concurrency, Samples: opts.Samples}
	if err := runSluice(ctx, opts, rep); err != nil {
		return nil, err
	}
	if opts.AfterSluice != nil {
		opts.AfterSluice()
	}
	var err error
	if rep.FloorThroughput, rep.FloorCPU, err = floorThroughput(ctx, opts); err != nil {
		return nil, err
	}
	return rep, nil
}

// runSluice measures a Sluice server into rep: every figure but the floor's.
func runSluice(ctx context.Context, opts Options, rep *Report) error {
	dataDir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dataDir)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr, ch, stopServer, err := startSluice(ctx, opts, dataDir)
	if err != nil {
		return err
	}
	defer stopServer()
	stopWorkers, err := startWorkers(ctx, opts, sluiceWorkerEnv(addr, dataDir))
	if err != nil {
		return err
	}
	defer func() { stopWorkers() }()

	c := newClient(server.BaseURL(addr)+"/v2/"+endpoint, opts.Concurrency)
	defer c.http.CloseIdleConnections()
	rep.Metrics = !opts.NoMetrics
	if rep.Metrics {
		stopScrapes := scrape(ctx, server.BaseURL(addr)+"/metrics", MetricsScrape)
		defer func() { rep.Scrapes = stopScrapes() }()
	}
	// Warm up: every worker is polling once a few jobs have completed.
	for range opts.Workers * 2 {
		if _, err := c.runsync(ctx); err != nil {
			return fmt.Errorf("bench: warm-up: %w", err)
		}
	}
	cpu, cpu0 := processCPU(), ch.cpuOr0()
	if rep.Throughput, err = c.throughput(ctx, opts.Jobs, opts.Concurrency); err != nil {
		return err
	}
	rep.CPUPerJob = (processCPU() - cpu) / time.Duration(opts.Jobs)
	rep.ServerCPU = (ch.cpuOr0() - cpu0) / time.Duration(opts.Jobs)
	if rep.StartP50, rep.StartP99, err = c.startLatency(ctx, opts.Samples); err != nil {
		return err
	}
	if rep.RunsyncP50, rep.RunsyncP99, err = c.runsyncLatency(ctx, opts.Samples); err != nil {
		return err
	}
	if rep.DirectP50, rep.DirectP99, err = directLatency(ctx, opts.Samples); err != nil {
		return err
	}
	if opts.Backlog > 0 {
		stop := func() {
			stopWorkers()
			stopWorkers = func() {}
		}
		start := func() error {
			var err error
			if stopWorkers, err = startWorkers(ctx, opts, sluiceWorkerEnv(addr, dataDir)); err != nil {
				stopWorkers = func() {}
			}
			return err
		}
		if err := c.backlog(ctx, opts, rep, ch, stop, start); err != nil {
			return err
		}
	}
	return nil
}

// scrape GETs url every interval until the returned func is called, which
// returns how many scrapes succeeded.
func scrape(ctx context.Context, url string, interval time.Duration) func() int {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		n := 0
		defer func() { done <- n }()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				n++
			}
		}
	}()
	return func() int { cancel(); return <-done }
}

// startSluice starts Sluice's server on a free loopback port, in a child
// process when opts.ServerCommand is set (ch is nil otherwise), and returns
// its address and a func that stops it.
func startSluice(ctx context.Context, opts Options, dataDir string) (addr string, ch *child, stop func(), err error) {
	if len(opts.ServerCommand) > 0 {
		argv := func(addr string) []string {
			args := append(slices.Clone(opts.ServerCommand), "serve", "--addr", addr, "--data-dir", dataDir, "--endpoint", endpoint)
			if opts.NoMetrics {
				args = append(args, "--no-metrics")
			}
			return args
		}
		ch, err = startChild(ctx, opts, "sluice", argv, "/v2/"+endpoint+"/health")
		if err != nil {
			return "", nil, nil, err
		}
		return ch.addr, ch, ch.stop, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(ctx, server.Options{
			Addr: "127.0.0.1:0", DataDir: dataDir, Endpoints: []string{endpoint}, Logger: opts.Logger,
			Ready: func(addr string) { ready <- addr }, NoMetrics: opts.NoMetrics,
		})
	}()
	select {
	case addr = <-ready:
	case err := <-served:
		cancel()
		return "", nil, nil, fmt.Errorf("bench: server: %w", err)
	}
	return addr, nil, func() {
		cancel()
		if err := <-served; err != nil {
			opts.Logger.Error("bench server", attrErr, err)
		}
	}, nil
}

// sluiceWorkerEnv returns the RUNPOD_* environment of a worker of the
// Sluice server at addr with data directory dataDir.
func sluiceWorkerEnv(addr, dataDir string) func(workerID string) ([]string, error) {
	return func(workerID string) ([]string, error) {
		return server.WorkerEnv(server.WorkerEnvOptions{Endpoint: endpoint, Addr: addr, DataDir: dataDir, WorkerID: workerID})
	}
}

// startWorkers starts opts.Workers processes, worker i with the
// environment workerEnv("bench-<i>") and WorkerConcurrencyEnv set to
// opts.WorkerConcurrency, and returns a func that stops them (SIGTERM,
// then SIGKILL after 10 s).
func startWorkers(ctx context.Context, opts Options, workerEnv func(workerID string) ([]string, error)) (func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.Process.Kill()
				<-done
			}
		}
	}
	for i := range opts.Workers {
		env, err := workerEnv(fmt.Sprintf("bench-%d", i))
		if err != nil {
			stop()
			return nil, fmt.Errorf("bench: worker env: %w", err)
		}
		cmd := exec.Command(opts.WorkerCommand[0], opts.WorkerCommand[1:]...)
		cmd.Env = append(append(os.Environ(), env...), opts.WorkerEnv...)
		if opts.WorkerConcurrency > 1 {
			cmd.Env = append(cmd.Env, WorkerConcurrencyEnv+"="+strconv.Itoa(opts.WorkerConcurrency))
		}
		if opts.WorkerProfile != nil {
			cmd.Env = append(cmd.Env, opts.WorkerProfile(i)...)
		}
		if err := cmd.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("bench: start worker: %w", err)
		}
		cmds = append(cmds, cmd)
	}
	return stop, nil
}

type client struct {
	base string
	http *http.Client
}

// newClient returns a client of base (".../v2/<endpoint>") that keeps
// enough idle connections for conc concurrent callers.
func newClient(base string, conc int) *client {
	return &client{base: base, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2},
		Timeout:   2 * time.Minute,
	}}
}

type jobView struct {
	ID     string      `json:"id"`
	Status wire.Status `json:"status"`
	Output struct {
		StartedNs int64 `json:"started_ns"`
	} `json:"output"`
}

func (c *client) post(ctx context.Context, path string, body []byte) (*jobView, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

func (c *client) do(req *http.Request) (*jobView, error) {
	var v jobView
	if err := doJSON(c.http, req, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// doJSON sends req with hc and decodes a 200 answer into v.
func doJSON(hc *http.Client, req *http.Request, v any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

var noopBody = []byte(`{"input":{}}`)

func (c *client) runsync(ctx context.Context) (*jobView, error) {
	v, err := c.post(ctx, "/runsync?wait=60000", noopBody)
	if err == nil && v.Status != wire.StatusCompleted {
		err = fmt.Errorf("runsync %s ended %s", v.ID, v.Status)
	}
	return v, err
}

// runAndWait submits a no-op job with /run and waits for it to complete.
func (c *client) runAndWait(ctx context.Context) (*jobView, error) {
	v, err := c.post(ctx, "/run", noopBody)
	if err != nil {
		return nil, err
	}
	return c.waitDone(ctx, v.ID)
}

// waitDone long-polls status-sync until the job completes.
func (c *client) waitDone(ctx context.Context, id string) (*jobView, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/status-sync/"+id+"?wait=60000", nil)
		if err != nil {
			return nil, err
		}
		v, err := c.do(req)
		if err != nil {
			return nil, err
		}
		switch {
		case v.Status == wire.StatusCompleted:
			return v, nil
		case v.Status.Terminal():
			return nil, fmt.Errorf("job %s ended %s", id, v.Status)
		}
	}
}

// throughput submits n jobs from conc clients, each waiting for its jobs
// to complete, and returns jobs per second.
func (c *client) throughput(ctx context.Context, n, conc int) (float64, error) {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				v, err := c.post(ctx, "/run", noopBody)
				if err == nil {
					_, err = c.waitDone(ctx, v.ID)
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("bench: throughput: %w", first)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// startLatency measures /run to handler start, one job at a time so a
// worker is always idle (parked in job-take) when the job arrives.
func (c *client) startLatency(ctx context.Context, n int) (p50, p99 time.Duration, err error) {
	d := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		v, err := c.post(ctx, "/run", noopBody)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: start latency: %w", err)
		}
		done, err := c.waitDone(ctx, v.ID)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: start latency: %w", err)
		}
		d = append(d, time.Unix(0, done.Output.StartedNs).Sub(t0))
	}
	p50, p99 = percentiles(d)
	return p50, p99, nil
}

func (c *client) runsyncLatency(ctx context.Context, n int) (p50, p99 time.Duration, err error) {
	d := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.runsync(ctx); err != nil {
			return 0, 0, fmt.Errorf("bench: runsync latency: %w", err)
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 = percentiles(d)
	return p50, p99, nil
}

// directLatency serves Handler over plain HTTP on loopback (decode the
// body, call the handler, encode the output: the least any server does)
// and measures n sequential calls.
func directLatency(ctx context.Context, n int) (p50, p99 time.Duration, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: direct: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		job, err := serverless.NewJob("direct", json.RawMessage(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := Handler(r.Context(), job)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "direct", "status": wire.StatusCompleted, "output": out})
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := &client{base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: time.Minute}}
	d := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.post(ctx, "/runsync", noopBody); err != nil {
			return 0, 0, fmt.Errorf("bench: direct: %w", err)
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 = percentiles(d)
	return p50, p99, nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return at(0.50), at(0.99)
}

// Print writes r as a table.
func (r *Report) Print(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	each := ""
	if r.WorkerConcurrency > 1 {
		each = fmt.Sprintf(" (concurrency %d each)", r.WorkerConcurrency)
	}
	ratio := 0.0
	if r.FloorThroughput > 0 {
		ratio = 100 * r.Throughput / r.FloorThroughput
	}
	metrics := "off"
	if r.Metrics {
		metrics = fmt.Sprintf("on, /metrics scraped %d times", r.Scrapes)
	}
	cpu := func(d time.Duration) string {
		if d <= 0 {
			return "n/a (in process)"
		}
		return fmt.Sprintf("%.3f ms/job", float64(d.Microseconds())/1000)
	}
	_, err := fmt.Fprintf(w, `sluice bench: %d no-op workers%s, %d /run jobs from %d clients, %d samples per latency, metrics %s
  /run + completion throughput   %8.0f jobs/s   server CPU %s; bench process CPU %.0f µs/job
  protocol floor (no engine)     %8.0f jobs/s   server CPU %s; same HTTP, workers, clients; in-memory server
  Sluice / floor                 %8.0f%%
  /runsync latency               p50 %-10s p99 %s
  direct HTTP, same handler      p50 %-10s p99 %s
  /run -> handler start (idle)   p50 %-10s p99 %s
`, r.Workers, each, r.Jobs, r.Concurrency, r.Samples, metrics, r.Throughput, cpu(r.ServerCPU), float64(r.CPUPerJob.Nanoseconds())/1000, r.FloorThroughput, cpu(r.FloorCPU), ratio,
		ms(r.RunsyncP50), ms(r.RunsyncP99), ms(r.DirectP50), ms(r.DirectP99), ms(r.StartP50), ms(r.StartP99))
	if err != nil || r.Backlog == 0 {
		return err
	}
	rss := "n/a (in process)"
	if r.RSSPerQueued > 0 {
		rss = fmt.Sprintf("%.0f bytes", r.RSSPerQueued)
	}
	_, err = fmt.Fprintf(w, `  backlog of %d jobs:
    submit with no worker        %8.0f jobs/s
    server memory per queued job %s
    drain by the workers         %8.0f jobs/s   server CPU %s
    purge-queue of %d jobs    %s
`, r.Backlog, r.SubmitRate, rss, r.DrainRate, cpu(r.DrainCPU), r.Purged, ms(r.PurgeTime))
	return err
}
