package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

const groupServer = "server"

// serverFlags are the flags serve and worker-env share: they must agree for
// worker-env to print the key and interval the server uses.
type serverFlags struct {
	addr, dataDir, config string
	endpoints             []string
	pingInterval          time.Duration
}

func (f *serverFlags) register(c *cobra.Command, addrHelp string) {
	c.Flags().StringVar(&f.addr, "addr", server.DefaultAddr, addrHelp)
	c.Flags().StringVar(&f.dataDir, "data-dir", server.DefaultDataDir, "data directory: embedded NATS storage and generated worker keys")
	c.Flags().StringVar(&f.config, "config", "", "config file (sluice.yaml): API keys, worker key, endpoints and their workers")
	c.Flags().StringArrayVar(&f.endpoints, "endpoint", nil, "endpoint id to serve when there is no --config (repeatable; default: one endpoint named \""+server.DefaultEndpoint+"\")")
	c.Flags().DurationVar(&f.pingInterval, "ping-interval", 0, "interval workers ping at (RUNPOD_PING_INTERVAL); default: the config's pingIntervalMs, 10s")
}

func addServerCommands(root *cobra.Command, s streams) {
	root.AddGroup(&cobra.Group{ID: groupServer, Title: "Server commands:"})
	root.AddCommand(serveCommand(s), workerEnvCommand(s), benchCommand(s), benchWorkerCommand(), benchChildCommand(), benchLBWorkerCommand())
}

func serveCommand(s streams) *cobra.Command {
	var (
		f                                         serverFlags
		lf                                        logFlags
		natsURL, metricsAddr, debugAddr           string
		strict, noMetrics                         bool
		retention, syncRetention, lostAfter, hold time.Duration
		maxRetries                                int
		maxStorage, memoryLimit                   string
	)
	c := &cobra.Command{
		Use:     "serve",
		GroupID: groupServer,
		Short:   "Run the Sluice server: Runpod's /v2 client API and worker API over the job engine",
		Long: `Run the Sluice server: Runpod's queue-based /v2 client API (run, runsync,
status, stream, cancel, retry, purge-queue, health) and the worker API that
runpod-python and Go serverless workers call (job-take, job-done, job-stream,
job-stop, ping), over a durable job engine (embedded NATS JetStream in
--data-dir, or an external cluster with --nats-url).

Endpoints come from --config (sluice.yaml). Without a config file, each
--endpoint ID serves one endpoint with default settings; with neither, one
endpoint named "default" is served. Its workers are started elsewhere: point
them at the server with the environment from "sluice worker-env ENDPOINT".

Client auth: "Authorization: Bearer <key>" (or the bare key) checked against
apiKeys in the config plus $SLUICE_API_KEYS (comma-separated). With no key
configured the client API accepts any request, and serve therefore refuses
to listen on anything but a loopback address.

Worker auth: each endpoint has a worker key (the config's workerKey, else a
random key generated once and kept in --data-dir). It opens only that
endpoint's worker routes, never the client API. Several replicas sharing one
NATS cluster (--nats-url) need the same worker keys: set workerKey in the
config file rather than relying on each --data-dir's generated keys.

Reload: with --config, SIGHUP (kill -HUP) or POST /v2/admin/reload (with a
top-level apiKeys key) re-reads the file and applies it without dropping
jobs: new endpoints start, changed ones replace their workers as each holds
no job, new keys open the API at once. A removed endpoint takes no new job
(404) while its workers drain; its jobs stay readable by id until restart.
An invalid file is refused (logged, or answered 400) and nothing changes.
pingIntervalMs, maxRetries and the retentions apply only after a restart.

Probes (no key): GET /healthz answers 200 while the process runs; GET /readyz
answers 200 once the config is loaded and the job engine answers, else 503
with {"status":"unavailable","reason":"..."} (also while shutting down).

Operations: GET /metrics serves Prometheus metrics (a key that opens every
endpoint on --addr; no key on --metrics-addr). --log-format json writes one
JSON object per line; job lines carry endpoint, job_id and worker_id.
--debug-addr serves net/http/pprof on a loopback address.`,
		Example: `  sluice serve                                  # endpoint "default" on 127.0.0.1:8080
  sluice serve --endpoint echo --endpoint sd    # two endpoints, no config file
  SLUICE_API_KEYS=secret sluice serve --addr 0.0.0.0:8080 --config sluice.yaml
  curl -X POST -H "Authorization: Bearer secret" http://127.0.0.1:8080/v2/admin/reload   # or kill -HUP
  sluice serve --config sluice.yaml --metrics-addr 127.0.0.1:9090 --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(s.err)
			if err != nil {
				return err
			}
			opts := server.Options{
				Addr: f.addr, DataDir: f.dataDir, ConfigPath: f.config, Endpoints: f.endpoints,
				NATSURL: natsURL, StrictSync: strict, TakeHold: hold, Logger: log, Hints: s.err,
				NoMetrics: noMetrics, MetricsAddr: metricsAddr, DebugAddr: debugAddr,
				Overrides: server.Overrides{
					PingInterval: f.pingInterval, WorkerLostAfter: lostAfter,
					Retention: retention, SyncRetention: syncRetention,
				},
			}
			if cmd.Flags().Changed("max-retries") {
				opts.Overrides.MaxRetries = &maxRetries
			}
			if maxStorage != "" {
				n, ok := config.ParseSize(maxStorage)
				if !ok {
					return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--max-storage %q is not a size like 20GiB", maxStorage)}
				}
				opts.MaxStorage = n
			}
			if err := tuneServerMemory(cmd.Context(), memoryLimit, log); err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			return server.Serve(cmd.Context(), opts)
		},
	}
	f.register(c, "listen address; without client API keys only loopback addresses are allowed")
	fl := c.Flags()
	fl.StringVar(&natsURL, "nats-url", "", "external NATS cluster URL (JetStream); default: embedded NATS in --data-dir")
	fl.BoolVar(&strict, "strict-sync", false, "fsync every write of the embedded NATS (survives power loss; slower)")
	fl.DurationVar(&retention, "retention", 0, "how long /run results stay readable (default: the config's retention, 30m)")
	fl.DurationVar(&syncRetention, "sync-retention", 0, "how long /runsync results stay readable (default: the config's syncRetention, 1m)")
	fl.DurationVar(&lostAfter, "worker-lost-after", 0, "a worker silent this long is lost and its jobs requeued (default 3 × ping interval)")
	fl.IntVar(&maxRetries, "max-retries", 2, "requeues of a job after its worker was lost, before it FAILs with \"worker lost\"; unset: the config's maxRetries")
	fl.DurationVar(&hold, "take-hold", 0, "how long the worker API's long polls (job-take, job-stop) are held before 204 (default 30s)")
	fl.StringVar(&metricsAddr, "metrics-addr", "", "also serve GET /metrics (Prometheus) on this address, without a key (on --addr it takes a key that opens every endpoint)")
	fl.BoolVar(&noMetrics, "no-metrics", false, "export no Prometheus metrics (no /metrics, no counting)")
	fl.StringVar(&debugAddr, "debug-addr", "", "serve net/http/pprof under /debug/pprof/ on this loopback address (default: off)")
	lf.register(c)
	fl.StringVar(&maxStorage, "max-storage", "", "size limit of the embedded job store, e.g. 20GiB; over it /run answers 429 (default: the config's maxStorage, else half of the free disk plus what the store holds)")
	fl.StringVar(&memoryLimit, "memory-limit", "", "soft memory limit of the server process, e.g. 2GiB (GOMEMLIMIT-style; default: $GOMEMLIMIT, else half the physical memory)")
	return c
}

func workerEnvCommand(s streams) *cobra.Command {
	var (
		f        serverFlags
		workerID string
		format   string
	)
	c := &cobra.Command{
		Use:     "worker-env ENDPOINT",
		GroupID: groupServer,
		Short:   "Print the RUNPOD_* environment a worker of ENDPOINT needs to reach this server",
		Long: `Print the RUNPOD_* environment a worker needs to serve ENDPOINT on a Sluice
server, as export KEY='value' lines a POSIX shell can eval or source: the
job-take, job-done, job-stream and ping URL templates, the worker key
(RUNPOD_AI_API_KEY), a worker id (RUNPOD_POD_ID, random unless --worker-id),
the endpoint id and the ping interval.

Use the same --config, --data-dir and --ping-interval as "sluice serve" so
the key and interval match; --addr is the address the worker reaches the
server at (default: $SLUICE_URL if set, like the client commands). Every
worker process needs its own RUNPOD_POD_ID. --format env prints plain
KEY=value lines instead (docker --env-file, systemd EnvironmentFile=).`,
		Example: `  eval "$(sluice worker-env echo --config sluice.yaml)"; python handler.py
  sluice worker-env echo --addr 10.0.0.5:8080 --worker-id gpu0 --format env > worker.env`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "shell" && format != "env" {
				return fmt.Errorf("--format %q: want shell or env", format)
			}
			addr := f.addr
			if u := os.Getenv(envURL); u != "" && !cmd.Flags().Changed("addr") {
				addr = u
			}
			env, err := server.WorkerEnv(server.WorkerEnvOptions{
				Endpoint: args[0], Addr: addr, ConfigPath: f.config, DataDir: f.dataDir,
				Endpoints: f.endpoints, WorkerID: workerID,
				Overrides: server.Overrides{PingInterval: f.pingInterval},
			})
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, kv := range env {
				if format == "env" {
					b.WriteString(kv)
				} else {
					b.WriteString("export " + server.ShellQuote(kv))
				}
				b.WriteByte('\n')
			}
			_, err = fmt.Fprint(s.out, b.String())
			return err
		},
	}
	f.register(c, "address (host:port or base URL) workers reach the server at")
	c.Flags().StringVar(&workerID, "worker-id", "", "worker id (RUNPOD_POD_ID); default: random")
	c.Flags().StringVar(&format, "format", "shell", "shell: export KEY='value' lines; env: KEY=value lines (env files)")
	return c
}
