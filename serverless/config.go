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
	// ConcurrencyModifier is asked, on every take loop, how many jobs may run
	// at once given the current number. Defaults to nil: one job at a time.
	ConcurrencyModifier func(current int) int
	// RefreshWorker makes the worker exit after each job so the platform
	// starts a fresh one. Defaults to false.
	RefreshWorker bool
	// Logger receives the SDK's own log records. Defaults to a logger writing
	// runpod-python's line format to stdout.
	Logger *slog.Logger
	// Args are the command-line arguments to parse for --test_input,
	// --rp_serve_api and friends. Defaults to os.Args[1:]. Unknown flags are
	// ignored and left for the program.
	Args []string
}
