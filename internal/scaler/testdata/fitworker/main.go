// Command fitworker is a Go SDK worker whose fitness check fails, for the
// supervisor's test of the exit reason it reports.
package main

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/serverless"
)

func main() {
	serverless.Start(serverless.Config{
		Handler: func(ctx context.Context, job *serverless.Job) (any, error) { return job.Input, nil },
		FitnessChecks: []serverless.FitnessCheck{{
			Name: "gpu",
			Func: func(context.Context) error { return errors.New("no CUDA device") },
		}},
	})
}
