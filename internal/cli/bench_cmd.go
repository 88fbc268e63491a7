package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
)

func benchCommand(s streams) *cobra.Command {
	var opts bench.Options
	var verbose bool
	var (
		coldStarts   int
		serverBinary string
	)
	var profileDir string
	var lb bool
	var image bench.ImageWorker
	c := &cobra.Command{
		Use:     "bench",
		GroupID: groupServer,
		Short:   "Measure a real server with no-op Go workers: throughput, /runsync latency, time to handler start",
		Long: `Start a Sluice server on a free loopback port (embedded NATS in a temporary
directory) and --workers no-op worker processes on the Go serverless SDK,
then report, side by side:

  - /run + completion throughput: --jobs jobs from --concurrency clients,
    each waiting for its job with /status-sync;
  - /runsync latency p50/p99 of a no-op job, next to a direct HTTP call to
    the same handler (the floor any server has);
  - /run to handler start on an idle worker (p50/p99);
  - the protocol floor: the same throughput phase, with as many workers of
    the same kind and the same clients, against an in-memory server that
    answers the same HTTP exchanges (/run, job-take, job-done, status-sync)
    with no engine, no persistence and no auth; Sluice / floor is the share
    of that ceiling Sluice reaches;
  - with --cold-starts N, N cold starts (p50/p90): /run on an endpoint whose
    workers Sluice starts itself, scaled to zero, to handler start, split
    into Sluice's own part (the /run and the supervisor's reaction, then the
    job hand-off at the worker's first job-take) and the worker's (fork/exec,
    Go runtime init, SDK start-up until its first job-take);
  - with --image IMG (and --cold-starts N), only cold starts of workers that
    are containers of IMG, whose entrypoint runs ` + "`sluice bench-worker`" + `
    (FROM scratch + a static sluice binary), split into Sluice's part and
    the container runtime's (create and start, up to the worker's init),
    each sampled in turn with a cold start of a process worker (the baseline).

Everything runs on this machine; the figures include the clients' cost.`,
		Example: `  sluice bench
  sluice bench --workers 8 --jobs 5000 --concurrency 64
  sluice bench --worker-concurrency 16
  sluice bench --cold-starts 30
  sluice bench --cold-starts 30 --image localhost/sluice-bench:1 --runtime podman
  sluice bench --lb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: find own binary for the workers: %w", err)
			}
			if lb {
				return runLBBench(cmd, s, exe, opts, verbose, profileDir)
			}
			opts.WorkerCommand = []string{exe, "bench-worker"}
			if image.Image != "" {
				if coldStarts <= 0 {
					return fmt.Errorf("bench: --image measures cold starts: give --cold-starts N")
				}
				if profileDir != "" { // server.pprof: the server and the client, in this process
					stop, err := startProfiles(profileDir, &opts)
					if err != nil {
						return err
					}
					defer stop()
				}
				cold, err := bench.ColdStart(cmd.Context(), bench.ColdOptions{Samples: coldStarts, Image: image, WorkerCommand: opts.WorkerCommand, Logger: coldLogger(verbose, s)})
				if err != nil {
					return err
				}
				return cold.Print(s.out)
			}
			opts.ServerCommand, opts.FloorCommand = []string{exe}, []string{exe, "bench-child", "floor"}
			if serverBinary != "" {
				opts.ServerCommand = []string{serverBinary}
			}
			if verbose {
				opts.Logger = slog.New(slog.NewTextHandler(s.err, nil))
				opts.ChildOutput = s.err
			}
			if profileDir != "" {
				// The server runs in this process, so server.pprof has it.
				if serverBinary == "" {
					opts.ServerCommand = nil
				}
				stop, err := startProfiles(profileDir, &opts)
				if err != nil {
					return err
				}
				defer stop()
				opts.AfterSluice = stop // server.pprof profiles Sluice, not the floor
			}
			if err := tuneServerMemory(cmd.Context(), "", slog.New(slog.DiscardHandler)); err != nil {
				return err
			}
			rep, err := bench.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := rep.Print(s.out); err != nil || coldStarts <= 0 {
				return err
			}
			cold, err := bench.ColdStart(cmd.Context(), bench.ColdOptions{Samples: coldStarts, WorkerCommand: opts.WorkerCommand, Logger: opts.Logger})
			if err != nil {
				return err
			}
			return cold.Print(s.out)
		},
	}
	c.Flags().IntVar(&opts.Workers, "workers", 4, "number of no-op worker processes")
	c.Flags().IntVar(&opts.Jobs, "jobs", 2000, "jobs in the throughput phase")
	c.Flags().IntVar(&opts.Concurrency, "concurrency", 32, "concurrent clients in the throughput phase")
	c.Flags().IntVar(&opts.Samples, "samples", 200, "sequential requests per latency phase")
	c.Flags().IntVar(&opts.WorkerConcurrency, "worker-concurrency", 1, "jobs each worker runs at once (above 1 the workers use job-take-batch), for Sluice and the floor")
	c.Flags().StringVar(&serverBinary, "server-binary", "", "sluice binary whose serve is measured (e.g. an older build, for before/after pairs); default: this one")
	c.Flags().IntVar(&opts.Backlog, "backlog", 0, "also submit this many jobs with no worker running, then drain them with the workers, then submit as many again and purge them: drain jobs/s, server memory per queued job, purge time")
	c.Flags().IntVar(&coldStarts, "cold-starts", 0, "also measure this many cold starts (an endpoint scaled to zero; about 2 s each)")
	c.Flags().BoolVar(&lb, "lb", false, "measure a load-balancing endpoint instead: /lb/... through the proxy next to direct calls to the same net/http worker (latency pairs, then interleaved throughput rounds with --concurrency clients)")
	c.Flags().BoolVar(&verbose, "verbose", false, "show the server's log")
	c.Flags().StringVar(&image.Image, "image", "", "measure only cold starts (--cold-starts) of container workers of this image, which runs `sluice bench-worker`")
	c.Flags().StringVar(&image.Runtime, "runtime", "", "with --image: docker or podman (default: the first that answers)")
	c.Flags().StringSliceVar(&image.RuntimeArgs, "runtime-args", nil, "with --image: the runtime's global flags, comma-separated (e.g. --runtime=runc,--cgroup-manager=cgroupfs)")
	c.Flags().BoolVar(&opts.NoMetrics, "no-metrics", false, "run the server with its Prometheus metrics off (default: on, /metrics scraped every second)")
	c.Flags().StringVar(&profileDir, "cpuprofile", "", "write CPU profiles to this directory: server.pprof (server, engine and clients) and worker-N.pprof")
	return c
}

// coldLogger is the server log of an image cold-start run.
func coldLogger(verbose bool, s streams) *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(s.err, nil))
	}
	return nil
}

// profileEnv names the file a bench worker writes its CPU profile to.
const profileEnv = "SLUICE_BENCH_CPUPROFILE"

// startProfiles starts a CPU profile of this process in dir and asks each
// of Sluice's workers for its own (worker-N.pprof); the returned func stops
// this process's profile (once; later calls do nothing).
func startProfiles(dir string, opts *bench.Options) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: profile dir: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "server.pprof"))
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	opts.WorkerProfile = func(i int) []string {
		return []string{profileEnv + "=" + filepath.Join(dir, fmt.Sprintf("worker-%d.pprof", i))}
	}
	return sync.OnceFunc(func() { pprof.StopCPUProfile(); f.Close() }), nil
}

// benchChildCommand runs one of `sluice bench`'s servers in its own
// process, so its CPU and memory are measured apart (hidden).
func benchChildCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-child",
		Hidden: true,
		Short:  "Protocol floor server process used by sluice bench (floor ADDR)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tuneServerMemory(cmd.Context(), "", slog.New(slog.DiscardHandler)); err != nil {
				return err
			}
			if code := bench.ChildMain(cmd.Context(), args); code != 0 {
				return fmt.Errorf("bench child exited with code %d", code)
			}
			return nil
		},
	}
}

// benchWorkerCommand is the no-op worker `sluice bench` starts (hidden).
func benchWorkerCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-worker",
		Hidden: true,
		Short:  "No-op serverless worker used by sluice bench",
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path := os.Getenv(profileEnv); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return fmt.Errorf("bench worker: profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("bench worker: profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			if code := bench.WorkerMain(cmd.Context()); code != 0 {
				return fmt.Errorf("bench worker exited with code %d", code)
			}
			return nil
		},
	}
}
