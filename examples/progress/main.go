// Command progress is a worker that reports progress while it works. Each
// serverless.ProgressUpdate shows as the job's output in /status while the
// job is IN_PROGRESS.
//
//	go run ./examples/progress --test_input '{"input": {"steps": 3}}'
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

// input is what a job sends.
type input struct {
	Steps  int `json:"steps"`
	StepMS int `json:"step_ms"`
}

// progress is one progress update.
type progress struct {
	Step    int `json:"step"`
	Of      int `json:"of"`
	Percent int `json:"percent"`
}

func handler(ctx context.Context, job *serverless.Job) (any, error) {
	var in input
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	if in.Steps < 1 || in.Steps > 1000 {
		return map[string]any{"error": fmt.Sprintf("steps must be 1 to 1000, got %d", in.Steps)}, nil
	}
	for i := 1; i <= in.Steps; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(in.StepMS) * time.Millisecond):
		}
		p := progress{Step: i, Of: in.Steps, Percent: 100 * i / in.Steps}
		if err := serverless.ProgressUpdate(ctx, job, p); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return map[string]any{"done": in.Steps}, nil
}

func main() {
	serverless.Start(serverless.Config{Handler: handler})
}
