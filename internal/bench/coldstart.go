package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/wire"
)

// Cold starts: an endpoint whose workers Sluice starts itself (a command in
// sluice.yaml), scaled to zero, gets a /run; the time until the handler
// starts is split by timestamps taken along the way:
//
//	t0        the client sends /run
//	spawn     the supervisor decides to start a worker (/workers startedAt)
//	spawned   the process has exec'd (the supervisor's "worker ... started" log line)
//	init      the worker's Go runtime is up and its packages initialised
//	take      the worker's SDK sends its first job-take
//	handler   the handler starts (Handler's started_ns)
//
// Sluice's own part is t0→spawn (the /run request, the durable submit and the
// supervisor's reaction) plus take→handler (job-take served and the job
// handed over). The worker's part is spawn→take: fork/exec, Go runtime and
// package init, and SDK start-up.

// envColdStart makes a worker process print its cold-start times: set in
// the endpoint's env by ColdStart, read by this package's init.
const envColdStart = "SLUICE_BENCH_COLD_START"

// coldLinePrefix starts the line a cold-start worker prints on stdout at its
// first job-take: "<prefix> init=<unix ns> take=<unix ns>".
const coldLinePrefix = "sluice-bench-cold-start"

// initAt is when this package was initialised: in a worker process, the Go
// runtime and every package this one depends on are up by then.
var initAt = time.Now()

func init() {
	if os.Getenv(envColdStart) == "1" {
		recordFirstTake(os.Stdout)
	}
}

// recordFirstTake prints the init time and the time of the first job-take
// request to w. The SDK's HTTP transport is a clone of
// http.DefaultTransport, and a transport asks its Proxy func about every
// request it sends, so a wrapped Proxy sees the take go out.
func recordFirstTake(w io.Writer) {
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return
	}
	var once atomic.Bool
	next := tr.Proxy
	tr.Proxy = func(r *http.Request) (*url.URL, error) {
		if strings.Contains(r.URL.Path, "/job-take") && once.CompareAndSwap(false, true) {
			fmt.Fprintf(w, "%s init=%d take=%d\n", coldLinePrefix, initAt.UnixNano(), time.Now().UnixNano())
		}
		if next == nil {
			return nil, nil
		}
		return next(r)
	}
}

// ColdOptions configure ColdStart.
type ColdOptions struct {
	// Samples is the number of cold starts. Defaults to 20.
	Samples int
	// WorkerCommand is the endpoint's worker command; the worker's handler
	// must be Handler and its binary must import this package (`sluice
	// bench-worker` does). Required.
	WorkerCommand []string
	// WorkerEnv is extra environment for the workers, as KEY=VALUE.
	WorkerEnv []string
	// Image, when set, makes the endpoint's workers containers of this
	// image (coldimage.go) instead of WorkerCommand processes.
	Image ImageWorker
	// Logger receives the server's log. Defaults to discarding it.
	Logger *slog.Logger
}

// Span is the p50 and p90 of one part of the cold starts.
type Span struct{ P50, P90 time.Duration }

// ColdReport holds the figures of ColdStart.
type ColdReport struct {
	Samples int
	// Total is /run to handler start.
	Total Span
	// Reaction is /run to the supervisor starting the worker process (Sluice).
	Reaction Span
	// Spawn is fork/exec of the worker process (the OS, on Sluice's call).
	Spawn Span
	// RuntimeInit is exec to the worker's packages being initialised (Go runtime).
	RuntimeInit Span
	// SDKStart is from there to the first job-take request (program and SDK start-up).
	SDKStart Span
	// HandOff is the first job-take request to handler start (Sluice serving
	// the take; the SDK's decoding of one small job is a few µs of it).
	HandOff Span
	// Sluice is Reaction + HandOff; Worker is Spawn + RuntimeInit + SDKStart.
	Sluice, Worker Span
	// Image is the workers' image, or "" for process workers.
	Image string
	// Baseline, for image cold starts, is the same measure of process
	// workers (ColdOptions.WorkerCommand), sampled in turn with them.
	Baseline *ColdReport
}

// coldSample is one cold start's parts, in the order of ColdReport.
type coldSample struct {
	total, reaction, spawn, runtimeInit, sdkStart, handOff time.Duration
}

const (
	coldEndpoint     = "cold"
	coldProcEndpoint = "cold-process" // the process baseline of image cold starts
)

// ColdStart serves one managed endpoint (REQUEST_COUNT 1, at most one
// worker, idleTimeout 1 s) from a temporary config and data directory, and
// measures opts.Samples cold starts: each waits for the endpoint to have no
// worker process, sends /run and reads the timestamps back.
func ColdStart(ctx context.Context, opts ColdOptions) (*ColdReport, error) {
	if opts.Samples <= 0 {
		opts.Samples = 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.WorkerCommand) == 0 && opts.Image.Image == "" {
		return nil, errors.New("bench: WorkerCommand or Image is required")
	}
	dir, err := os.MkdirTemp("", "sluice-coldstart-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	env := map[string]string{envColdStart: "1"}
	for _, kv := range opts.WorkerEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// JSON is YAML: no quoting rules to get wrong for paths.
	ep := map[string]any{
		"id": coldEndpoint, "command": opts.WorkerCommand, "env": env,
		"scalerType": "REQUEST_COUNT", "scalerValue": 1, "workersMax": 1, "idleTimeout": 1,
	}
	eps := []any{ep}
	if opts.Image.Image != "" && len(opts.WorkerCommand) > 0 {
		// The baseline: process workers, sampled in turn with the image's.
		proc := maps.Clone(ep)
		proc["id"] = coldProcEndpoint
		eps = append(eps, proc)
	}
	opts.Image.endpoint(ep)
	srv, err := serveInProcess(ctx, dir, map[string]any{"pingIntervalMs": 1000, "endpoints": eps}, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	addr := srv.addr
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	c := &coldClient{base: server.BaseURL(addr) + "/v2/" + coldEndpoint, http: hc}
	var base *coldClient
	if len(eps) > 1 {
		base = &coldClient{base: server.BaseURL(addr) + "/v2/" + coldProcEndpoint, http: hc}
	}
	samples := make([]coldSample, 0, opts.Samples)
	var baseSamples []coldSample
	for i := range opts.Samples {
		var others []*coldClient
		if base != nil {
			others = append(others, base)
		}
		s, err := c.sample(ctx, others...)
		if err != nil {
			return nil, fmt.Errorf("bench: cold start %d: %w", i+1, err)
		}
		samples = append(samples, s)
		if base != nil {
			s, err := base.sample(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("bench: baseline cold start %d: %w", i+1, err)
			}
			baseSamples = append(baseSamples, s)
		}
	}
	rep := coldReport(samples)
	rep.Image = opts.Image.Image
	if base != nil {
		rep.Baseline = coldReport(baseSamples)
	}
	return rep, nil
}

func coldReport(samples []coldSample) *ColdReport {
	span := func(f func(coldSample) time.Duration) Span {
		d := make([]time.Duration, len(samples))
		for i, s := range samples {
			d[i] = f(s)
		}
		slices.Sort(d)
		at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
		return Span{P50: at(0.50), P90: at(0.90)}
	}
	return &ColdReport{
		Samples:     len(samples),
		Total:       span(func(s coldSample) time.Duration { return s.total }),
		Reaction:    span(func(s coldSample) time.Duration { return s.reaction }),
		Spawn:       span(func(s coldSample) time.Duration { return s.spawn }),
		RuntimeInit: span(func(s coldSample) time.Duration { return s.runtimeInit }),
		SDKStart:    span(func(s coldSample) time.Duration { return s.sdkStart }),
		HandOff:     span(func(s coldSample) time.Duration { return s.handOff }),
		Sluice:      span(func(s coldSample) time.Duration { return s.reaction + s.handOff }),
		Worker:      span(func(s coldSample) time.Duration { return s.spawn + s.runtimeInit + s.sdkStart }),
	}
}

type coldClient struct {
	base string
	http *http.Client
}

// get decodes a GET answer into v.
func (c *coldClient) get(ctx context.Context, path string, v any) error {
	return c.call(ctx, http.MethodGet, path, nil, v)
}

func (c *coldClient) call(ctx context.Context, method, path string, body io.Reader, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	return doJSON(c.http, req, v)
}

type coldWorker struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
	ExitedAt  time.Time `json:"exitedAt"`
}

type coldHealth struct {
	Workers struct {
		Idle, Running, Initializing, Unhealthy int
	} `json:"workers"`
}

// poll calls cond every 10 ms until it reports true, an error, or 60 s pass.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sample waits for zero workers (on c's endpoint and on others, so that
// no worker stops during the sample) and measures one cold start.
func (c *coldClient) sample(ctx context.Context, others ...*coldClient) (coldSample, error) {
	for _, o := range others {
		if err := o.noWorker(ctx); err != nil {
			return coldSample{}, err
		}
	}
	if err := c.noWorker(ctx); err != nil {
		return coldSample{}, err
	}
	return c.coldStart(ctx)
}

// noWorker waits until c's endpoint has no worker.
func (c *coldClient) noWorker(ctx context.Context) error {
	return poll(ctx, "the endpoint to have no worker", func() (bool, error) {
		var h coldHealth
		var ws struct{ Workers []coldWorker }
		if err := c.get(ctx, "/health", &h); err != nil {
			return false, err
		}
		if err := c.get(ctx, "/workers", &ws); err != nil {
			return false, err
		}
		w := h.Workers
		return w.Idle+w.Running+w.Initializing+w.Unhealthy == 0 && len(ws.Workers) == 0, nil
	})
}

// coldStart measures one cold start of an endpoint with no worker.
func (c *coldClient) coldStart(ctx context.Context) (coldSample, error) {
	t0 := time.Now()
	var sub struct{ ID string }
	if err := c.call(ctx, http.MethodPost, "/run", strings.NewReader(string(noopBody)), &sub); err != nil {
		return coldSample{}, err
	}
	var job struct {
		Status   wire.Status `json:"status"`
		WorkerID string      `json:"workerId"`
		Output   struct {
			StartedNs int64 `json:"started_ns"`
		} `json:"output"`
	}
	err := poll(ctx, "job "+sub.ID+" to complete", func() (bool, error) {
		if err := c.get(ctx, "/status-sync/"+sub.ID+"?wait=60000", &job); err != nil {
			return false, err
		}
		switch {
		case job.Status == wire.StatusCompleted:
			return true, nil
		case job.Status.Terminal():
			return false, fmt.Errorf("job %s ended %s", sub.ID, job.Status)
		}
		return false, nil
	})
	if err != nil {
		return coldSample{}, err
	}
	// The worker is idle for a second before it is stopped: read its start.
	var ws struct{ Workers []coldWorker }
	if err := c.get(ctx, "/workers", &ws); err != nil {
		return coldSample{}, err
	}
	i := slices.IndexFunc(ws.Workers, func(w coldWorker) bool { return w.ID == job.WorkerID && w.ExitedAt.IsZero() })
	if i < 0 {
		return coldSample{}, fmt.Errorf("worker %s of job %s is not in /workers", job.WorkerID, sub.ID)
	}
	spawn := ws.Workers[i].StartedAt
	var spawned, initAt, takeAt time.Time
	err = poll(ctx, "worker "+job.WorkerID+"'s log lines", func() (bool, error) {
		var lg struct {
			Lines []struct {
				TS     time.Time `json:"ts"`
				Stream string    `json:"stream"`
				Line   string    `json:"line"`
			} `json:"lines"`
		}
		if err := c.get(ctx, "/logs?worker="+url.QueryEscape(job.WorkerID), &lg); err != nil {
			return false, err
		}
		for _, l := range lg.Lines {
			switch {
			case l.Stream == "system" && strings.Contains(l.Line, " started (pid "):
				spawned = l.TS
			case strings.HasPrefix(l.Line, coldLinePrefix+" "):
				var err error
				if initAt, takeAt, err = parseColdLine(l.Line); err != nil {
					return false, err
				}
			}
		}
		return !spawned.IsZero() && !takeAt.IsZero(), nil
	})
	if err != nil {
		return coldSample{}, err
	}
	handler := time.Unix(0, job.Output.StartedNs)
	return coldSample{
		total:       handler.Sub(t0),
		reaction:    spawn.Sub(t0),
		spawn:       spawned.Sub(spawn),
		runtimeInit: initAt.Sub(spawned),
		sdkStart:    takeAt.Sub(initAt),
		handOff:     handler.Sub(takeAt),
	}, nil
}

// parseColdLine reads "<prefix> init=<ns> take=<ns>".
func parseColdLine(line string) (initAt, takeAt time.Time, err error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return initAt, takeAt, fmt.Errorf("bad cold-start line %q", line)
	}
	ns := func(field, key string) (time.Time, error) {
		v, ok := strings.CutPrefix(field, key+"=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return time.Time{}, fmt.Errorf("bad cold-start line %q", line)
		}
		return time.Unix(0, n), nil
	}
	if initAt, err = ns(f[1], "init"); err != nil {
		return initAt, takeAt, err
	}
	takeAt, err = ns(f[2], "take")
	return initAt, takeAt, err
}

// Print writes r as a table.
func (r *ColdReport) Print(w io.Writer) error {
	if r.Image != "" {
		return r.printImage(w)
	}
	ms := func(s Span) string {
		return fmt.Sprintf("p50 %7.2f ms   p90 %7.2f ms", float64(s.P50.Microseconds())/1000, float64(s.P90.Microseconds())/1000)
	}
	_, err := fmt.Fprintf(w, `sluice bench: %d cold starts (/run on a managed endpoint with no worker -> handler start)
  total                                    %s
  Sluice: /run + supervisor reaction       %s
  worker: fork/exec                        %s
  worker: Go runtime + package init        %s
  worker: program + SDK start-up to take   %s
  Sluice: job-take served -> handler       %s
  Sluice's own part (reaction + hand-off)  %s
  worker's own part (spawn to first take)  %s
`, r.Samples, ms(r.Total), ms(r.Reaction), ms(r.Spawn), ms(r.RuntimeInit), ms(r.SDKStart), ms(r.HandOff), ms(r.Sluice), ms(r.Worker))
	return err
}
