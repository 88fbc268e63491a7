// Command refresh is a worker that asks the platform for a fresh worker.
//
// A job whose output is wrapped in serverless.Refresh gets "stopPod": true
// in its result, and the platform replaces the worker after it (the same as
// runpod-python's "refresh_worker": true key, which works too and is
// removed from the output). Setting REFRESH_EVERY_JOB=true instead sets
// Config.RefreshWorker: every job asks for a refresh, and the worker exits
// after its first job.
//
//	go run ./examples/refresh --test_input '{"input": {"dirty": true}}'
package main

import (
	"context"
	"os"

	"github.com/sluicehq/sluice/serverless"
)

// input is what a job sends.
type input struct {
	// Dirty says the job left state behind that the next job must not see.
	Dirty bool `json:"dirty"`
}

func handler(ctx context.Context, job *serverless.Job) (any, error) {
	var in input
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	out := map[string]any{"cleaned": !in.Dirty}
	if in.Dirty {
		return serverless.Refresh(out), nil
	}
	return out, nil
}

// config builds the worker's configuration from the environment.
func config(getenv func(string) string) serverless.Config {
	return serverless.Config{Handler: handler, RefreshWorker: getenv("REFRESH_EVERY_JOB") == "true"}
}

func main() {
	serverless.Start(config(os.Getenv))
}
