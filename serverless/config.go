package serverless

import "log/slog"

// Config configures a worker started with Start.
type Config struct {
	// Handler handles each job. Exactly one of Handler and StreamHandler must be set.
	Handler HandlerFunc
	// StreamHandler handles each job as a stream of chunks. Exactly one of
	// Handler and StreamHandler must be set.
	StreamHandler StreamFunc
	// ReturnAggregateStream makes a streaming job's final output the list of
	// every chunk it yielded. Defaults to false: the final output is [].
	ReturnAggregateStream bool
	// ConcurrencyModifier is asked, before every job-take, how many jobs may
	// run at once; it receives its previous answer (1 the first time).
	// Answers below 1 count as 1. A new answer applies at once (runpod-python
	// waits for the worker to be idle first). When more than one job is
	// wanted the worker uses job-take-batch. Each job runs in its own
	// goroutine, so a blocking handler never holds up the others, the take
	// loop or the heartbeat. Defaults to nil: one job at a time.
	ConcurrencyModifier func(current int) int
	// RefreshWorker makes the worker exit after each job so the platform
	// starts a fresh one: every result carries "stopPod": true, and once it
	// is posted the worker stops taking jobs, lets the running ones finish
	// and Start exits 0. Defaults to false.
	RefreshWorker bool
	// Logger receives the SDK's own log records. Defaults to a logger writing
	// runpod-python's line format to stdout ("LEVEL  | job id | message", or
	// JSON lines when RUNPOD_ENDPOINT_ID is set) at the level given by
	// --rp_log_level, else RUNPOD_LOG_LEVEL, else DEBUG. Records about a job
	// carry its id under LogKeyJobID.
	Logger *slog.Logger
	// FitnessChecks run in order before the production worker's first
	// job-take; the first failing one makes Start exit 1 with its name and
	// error on stderr. The test_input and local API modes skip them.
	FitnessChecks []FitnessCheck
	// Args are the command-line arguments to parse for --test_input,
	// --rp_serve_api and friends. Defaults to os.Args[1:]. Unknown flags are
	// ignored and left for the program.
	Args []string
}
