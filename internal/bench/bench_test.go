package bench

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/testutil"
)

// envWorker makes the test binary run as the no-op worker, so the tests
// and benchmarks start real worker processes without building anything.
const envWorker = "SLUICE_BENCH_TEST_WORKER"

// envChild makes the test binary run as a child server (ChildMain).
const envChild = "SLUICE_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(untilSignal(func(ctx context.Context) int { return ChildMain(ctx, os.Args[1:]) }))
	}
	if os.Getenv(envWorker) == "1" {
		os.Exit(untilSignal(WorkerMain))
	}
	testutil.Main(m)
}

// untilSignal runs main with a context that ends at SIGTERM or SIGINT.
func untilSignal(main func(ctx context.Context) int) int {
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		sig := make(chan os.Signal, 1)
		signalNotify(sig)
		<-sig
		stop()
	}()
	return main(ctx)
}

func workerOptions(t testing.TB) Options {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{WorkerCommand: []string{exe}, WorkerEnv: []string{envWorker + "=1"}}
}

// TestRun runs a small benchmark end to end and checks every figure was
// measured and the report prints them.
func TestRun(t *testing.T) {
	opts := workerOptions(t)
	opts.Workers, opts.Jobs, opts.Concurrency, opts.Samples = 2, 60, 8, 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Throughput <= 0 || rep.CPUPerJob <= 0 || rep.FloorThroughput <= 0 || rep.RunsyncP50 <= 0 || rep.RunsyncP99 < rep.RunsyncP50 || rep.DirectP50 <= 0 || rep.StartP50 <= 0 || rep.StartP99 < rep.StartP50 {
		t.Errorf("report has unmeasured figures: %+v", rep)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	if !rep.Metrics {
		t.Errorf("metrics off by default: %+v", rep)
	}
	for _, want := range []string{"metrics on", "jobs/s", "protocol floor", "Sluice / floor", "/runsync latency", "direct HTTP", "handler start"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRunChildBacklog runs the servers in child processes, with a backlog
// phase, and checks the per-process figures were measured.
func TestRunChildBacklog(t *testing.T) {
	opts := workerOptions(t)
	opts.ServerCommand, opts.FloorCommand = []string{opts.WorkerCommand[0]}, []string{opts.WorkerCommand[0], "floor"}
	opts.ChildEnv = []string{envChild + "=1"}
	opts.Workers, opts.Jobs, opts.Concurrency, opts.Samples, opts.Backlog = 2, 100, 8, 10, 300
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ServerCPU <= 0 || rep.FloorCPU <= 0 || rep.DrainRate <= 0 || rep.DrainCPU <= 0 || rep.SubmitRate <= 0 ||
		rep.Purged != opts.Backlog || rep.PurgeTime <= 0 || rep.RSSPerQueued == 0 {
		t.Errorf("report has unmeasured figures: %+v", rep)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	t.Log(b.String())
	for _, want := range []string{"server CPU", "backlog of 300 jobs", "memory per queued job", "drain by the workers", "purge-queue of 300 jobs"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// benchServer starts a server with workers for a Go benchmark.
func benchServer(b *testing.B, workers int) *client {
	b.Helper()
	opts := workerOptions(b)
	opts.Workers = workers
	ctx, cancel := context.WithCancel(context.Background())
	dir := b.TempDir()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(ctx, server.Options{Addr: "127.0.0.1:0", DataDir: dir, Endpoints: []string{endpoint}, Logger: slog.New(slog.DiscardHandler),
			Ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		b.Fatal(err)
	}
	stop, err := startWorkers(ctx, opts, sluiceWorkerEnv(addr, dir))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stop()
		cancel()
		if err := <-served; err != nil {
			b.Logf("server: %v", err)
		}
	})
	c := &client{base: server.BaseURL(addr) + "/v2/" + endpoint, http: &http.Client{Timeout: time.Minute}}
	for range workers * 2 {
		if _, err := c.runsync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkRunsync is one no-op /runsync round trip through the engine and
// a real worker process.
func BenchmarkRunsync(b *testing.B) {
	c := benchServer(b, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.runsync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunThroughput is /run + completion with 16 clients and 4 workers;
// ns/op is the inverse of throughput.
func BenchmarkRunThroughput(b *testing.B) {
	c := benchServer(b, 4)
	b.ResetTimer()
	if _, err := c.throughput(context.Background(), b.N, 16); err != nil {
		b.Fatal(err)
	}
}
