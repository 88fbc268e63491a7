// Command basic is the smallest serverless worker: it echoes its input.
//
// Run one job locally, or serve a local endpoint:
//
//	go run ./examples/basic --test_input '{"input": {"message": "hi"}}'
//	go run ./examples/basic --rp_serve_api
//	curl -d '{"input": {"message": "hi"}}' localhost:8000/runsync
package main

import (
	"context"

	"github.com/sluicehq/sluice/serverless"
)

// handler returns the job's input unchanged under "echo".
func handler(ctx context.Context, job *serverless.Job) (any, error) {
	return map[string]any{"echo": job.Input}, nil
}

func main() {
	serverless.Start(serverless.Config{Handler: handler})
}
