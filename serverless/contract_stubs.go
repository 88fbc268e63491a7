package serverless

// TEMPORARY: stubs for the internal contract between the SDK's parts, so the
// package compiles while they are written. Each owner deletes its stubs here
// when the real implementation lands.

import (
	"context"
	"errors"
	"log/slog"
)

var errNotYet = errors.New("not implemented yet")

// --- owned by the production-worker author (worker.go, run.go, log.go) ---

// workerEnv is the RUNPOD_* environment the worker reads (spec 1.1).
type workerEnv struct {
	getJobURL string // RUNPOD_WEBHOOK_GET_JOB, "" when unset (=> local mode)
	// ... the rest: post output, post stream, ping, key, pod id, hostname, interval, endpoint id
}

func workerEnvFromOS() workerEnv { return workerEnv{} }

// newLogger builds the SDK logger: runpod-python's line format (JSON lines
// when RUNPOD_ENDPOINT_ID is set), level from --rp_log_level, then RUNPOD_LOG_LEVEL.
func newLogger(base *slog.Logger, level string, env workerEnv) *slog.Logger {
	if base != nil {
		return base
	}
	return slog.Default()
}

func printBanner(log *slog.Logger) {}

func runWorker(ctx context.Context, cfg *Config, log *slog.Logger, env workerEnv) error {
	return errNotYet
}

// outcome is the final result of running one job's handler.
type outcome struct {
	body   []byte // JSON body for job-done: {"output": ...} / {"error": ...} / {"stopPod": true} ...
	failed bool   // body has a truthy "error"
	// stopPod is true when the body carries stopPod.
	stopPod bool
}

// jobSink receives what a running job emits besides its final result.
type jobSink interface {
	// chunk is called for each streamed value, in order, before the handler resumes.
	chunk(ctx context.Context, output any) error
	// progress is called for each ProgressUpdate, in order.
	progress(ctx context.Context, progress any) error
}

// runJob runs cfg's handler (or stream handler) on job, recovering panics,
// and maps the return value to the job-done body exactly as runpod-python
// does (spec 2.2-2.4). The final aggregate list is built when
// cfg.ReturnAggregateStream is set. It never panics.
func runJob(ctx context.Context, cfg *Config, job *Job, sink jobSink) outcome {
	return outcome{body: []byte(`{"error":"not implemented yet"}`), failed: true}
}

// --- owned by the local-modes author (local.go, localapi.go) ---

func runTestInput(ctx context.Context, cfg *Config, log *slog.Logger, opts options) int {
	return 1
}

func serveLocalAPI(ctx context.Context, cfg *Config, log *slog.Logger, opts options) error {
	return errNotYet
}
