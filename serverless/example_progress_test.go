package serverless_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

// ProgressUpdate reports progress while a job runs; the platform shows the
// latest update as the job's output in /status until the job ends.
func ExampleProgressUpdate() {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		for step := 1; step <= 3; step++ {
			if err := serverless.ProgressUpdate(ctx, job, map[string]int{"step": step, "of": 3}); err != nil {
				return nil, err
			}
		}
		return "done", nil
	}}
	res, err := serverlesstest.Exec(context.Background(), cfg, nil,
		serverlesstest.OnProgress(func(ctx context.Context, p json.RawMessage) error {
			fmt.Println("progress:", string(p))
			return nil
		}))
	if err != nil {
		panic(err)
	}
	fmt.Println("final:", string(res.Body))
	// Output:
	// progress: {"of":3,"step":1}
	// progress: {"of":3,"step":2}
	// progress: {"of":3,"step":3}
	// final: {"output":"done"}
}
