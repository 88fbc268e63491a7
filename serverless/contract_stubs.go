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
