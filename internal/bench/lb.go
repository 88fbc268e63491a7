package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/server"
)

const lbEndpoint = "lb"

// LBOptions configure LB. Only WorkerCommand is required.
type LBOptions struct {
	// WorkerCommand starts the load-balancing worker: an HTTP server on
	// 127.0.0.1:$PORT answering GET /ping with 200 and any other path with
	// a small body (`sluice bench` uses its hidden bench-lb-worker).
	WorkerCommand []string
	// WorkerEnv is extra environment for the worker (KEY=VALUE).
	WorkerEnv []string
	// Samples is the number of latency pairs (one direct call, one through
	// the proxy). Default 2000.
	Samples int
	// Concurrency is the number of clients in the throughput phases. Default 32.
	Concurrency int
	// Requests is the number of requests of one throughput phase. Default 20000.
	Requests int
	// Rounds is the number of direct/proxy pairs of throughput phases,
	// interleaved. Default 4.
	Rounds int
	// Logger receives the server's log. Default: discarded.
	Logger *slog.Logger
}

// LBReport holds the figures of one LB run. CPU figures are the bench
// process's (the in-process server and the clients, not the worker) per
// request: their difference is what the proxy costs.
type LBReport struct {
	Samples, Concurrency, Requests, Rounds int
	DirectP50, DirectP99                   time.Duration
	ProxyP50, ProxyP99                     time.Duration
	// AddedP50 is the median of the per-pair differences proxy - direct.
	AddedP50              time.Duration
	DirectRate, ProxyRate float64 // requests per second
	DirectCPU, ProxyCPU   time.Duration
	// BareRate and BareCPU are the same throughput rounds through a plain
	// httputil.ReverseProxy in this process: the cost of any Go proxy hop.
	BareRate float64
	BareCPU  time.Duration
}

// LB measures what a load-balancing endpoint adds: a real `sluice serve`
// (in this process) with one LB endpoint and one worker, called directly on
// the worker's PORT and through /lb/lb/..., interleaved: latency pairs of
// sequential requests, then rounds of throughput phases with Concurrency
// clients, direct and proxied in turn.
func LB(ctx context.Context, opts LBOptions) (*LBReport, error) {
	if len(opts.WorkerCommand) == 0 {
		return nil, errors.New("bench: WorkerCommand is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.Samples, 2000)
	def(&opts.Concurrency, 32)
	def(&opts.Requests, 20000)
	def(&opts.Rounds, 4)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "sluice-lb-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	env := map[string]string{}
	for _, kv := range opts.WorkerEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	srv, err := serveInProcess(ctx, dir, map[string]any{"endpoints": []any{map[string]any{
		"id": lbEndpoint, "type": "LB", "command": opts.WorkerCommand, "env": env,
		"workersMin": 1, "workersMax": 1, "scalerValue": 1_000_000,
	}}}, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	addr := srv.addr
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * opts.Concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	port, err := lbWorkerPort(ctx, hc, server.BaseURL(addr))
	if err != nil {
		return nil, err
	}
	direct := "http://127.0.0.1:" + strconv.Itoa(port) + "/hello"
	proxied := server.BaseURL(addr) + "/lb/" + lbEndpoint + "/hello"
	bare, stopBare, err := bareProxy(port)
	if err != nil {
		return nil, err
	}
	defer stopBare()

	rep := &LBReport{Samples: opts.Samples, Concurrency: opts.Concurrency, Requests: opts.Requests, Rounds: opts.Rounds}
	if err := lbLatency(ctx, hc, direct, proxied, rep); err != nil {
		return nil, err
	}
	// Rounds of direct, Sluice, bare proxy, in turn.
	sides := []struct {
		url       string
		n         int
		wall, cpu time.Duration
	}{{url: direct}, {url: proxied}, {url: bare}}
	for i := range len(sides) * opts.Rounds {
		sd := &sides[i%len(sides)]
		t0, c0 := time.Now(), processCPU()
		if err := lbLoad(ctx, hc, sd.url, opts.Requests, opts.Concurrency); err != nil {
			return nil, err
		}
		sd.wall += time.Since(t0)
		sd.cpu += processCPU() - c0
		sd.n += opts.Requests
	}
	rate := func(i int) float64 { return float64(sides[i].n) / sides[i].wall.Seconds() }
	cpu := func(i int) time.Duration { return sides[i].cpu / time.Duration(sides[i].n) }
	rep.DirectRate, rep.ProxyRate, rep.BareRate = rate(0), rate(1), rate(2)
	rep.DirectCPU, rep.ProxyCPU, rep.BareCPU = cpu(0), cpu(1), cpu(2)
	return rep, nil
}

// bareProxy serves a plain httputil.ReverseProxy to the worker on a free
// loopback port (no auth, routing, metrics or timeouts): what one proxy
// hop costs in Go, whoever writes it. It returns the URL to call.
func bareProxy(port int) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("bench: bare proxy: %w", err)
	}
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/hello", func() { _ = srv.Close() }, nil
}

// lbWorkerPort waits for the endpoint's worker to be ready and returns its PORT.
func lbWorkerPort(ctx context.Context, hc *http.Client, base string) (int, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var body struct {
			Workers []struct {
				Status string `json:"status"`
				Port   int    `json:"port"`
			} `json:"workers"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/"+lbEndpoint+"/workers", nil)
		if err != nil {
			return 0, err
		}
		if err := doJSON(hc, req, &body); err != nil {
			return 0, fmt.Errorf("bench: workers: %w", err)
		}
		for _, w := range body.Workers {
			if w.Status == "IDLE" && w.Port > 0 {
				return w.Port, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, errors.New("bench: the LB worker was not ready within a minute")
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// get sends one GET and reads the answer, which must be a 200.
func lbGet(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	return err
}

// lbLatency measures Samples pairs, alternating which call goes first.
func lbLatency(ctx context.Context, hc *http.Client, direct, proxied string, rep *LBReport) error {
	ds := make([]time.Duration, 0, rep.Samples)
	ps := make([]time.Duration, 0, rep.Samples)
	added := make([]time.Duration, 0, rep.Samples)
	timed := func(url string) (time.Duration, error) {
		t0 := time.Now()
		err := lbGet(ctx, hc, url)
		return time.Since(t0), err
	}
	for i := range rep.Samples + 50 {
		var d, p time.Duration
		var err, err2 error
		if i%2 == 0 {
			d, err = timed(direct)
			p, err2 = timed(proxied)
		} else {
			p, err = timed(proxied)
			d, err2 = timed(direct)
		}
		if err = errors.Join(err, err2); err != nil {
			return fmt.Errorf("bench: latency: %w", err)
		}
		if i < 50 {
			continue // warm-up: connections, caches
		}
		ds, ps, added = append(ds, d), append(ps, p), append(added, p-d)
	}
	rep.DirectP50, rep.DirectP99 = percentiles(ds)
	rep.ProxyP50, rep.ProxyP99 = percentiles(ps)
	rep.AddedP50, _ = percentiles(added)
	return nil
}

// lbLoad sends n GETs to url from c clients.
func lbLoad(ctx context.Context, hc *http.Client, url string, n, c int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := lbGet(ctx, hc, url); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("bench: throughput: %w", err)
	}
	return nil
}

// Print writes r as a table.
func (r *LBReport) Print(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Nanoseconds())/1e6) }
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs/req", float64(d.Nanoseconds())/1e3) }
	_, err := fmt.Fprintf(w, `sluice bench --lb: one net/http worker, %d latency pairs, %d rounds of %d requests from %d clients per side, interleaved
  direct to the worker's PORT    p50 %-10s p99 %-10s %8.0f req/s   bench process CPU %s
  through /lb/{endpoint}/...     p50 %-10s p99 %-10s %8.0f req/s   bench process CPU %s
  proxy adds                     p50 %-10s (median of pair differences)    throughput %.2fx direct   CPU %s
  bare httputil.ReverseProxy     (throughput rounds only)    %8.0f req/s   bench process CPU %s   %.2fx direct
`, r.Samples, r.Rounds, r.Requests, r.Concurrency,
		ms(r.DirectP50), ms(r.DirectP99), r.DirectRate, us(r.DirectCPU),
		ms(r.ProxyP50), ms(r.ProxyP99), r.ProxyRate, us(r.ProxyCPU),
		ms(r.AddedP50), r.ProxyRate/r.DirectRate, us(r.ProxyCPU-r.DirectCPU),
		r.BareRate, us(r.BareCPU), r.BareRate/r.DirectRate)
	return err
}

// LBWorkerMain runs the load-balancing worker of LB: an HTTP server on
// 127.0.0.1:$PORT answering /ping and every other path with 200. It
// returns an exit code.
func LBWorkerMain(ctx context.Context) int {
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "bench-lb-worker: PORT is not set")
		return 2
	}
	body := []byte(`{"ok":true}` + "\n")
	srv := &http.Server{
		Addr: "127.0.0.1:" + port,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "bench-lb-worker:", err)
		return 1
	}
	return 0
}
