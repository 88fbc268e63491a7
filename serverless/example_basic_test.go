package serverless_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

// A handler receives the job and returns its output. serverlesstest.Exec
// runs it the way the worker does and shows the body the platform receives.
func Example() {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		var in struct {
			Name string `json:"name"`
		}
		if err := job.Decode(&in); err != nil {
			return nil, err
		}
		return map[string]any{"greeting": "hello " + in.Name}, nil
	}}
	res, err := serverlesstest.Exec(context.Background(), cfg, map[string]string{"name": "Ada"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(res.Body))
	// Output: {"output":{"greeting":"hello Ada"}}
}

// A worker's main function is one call to Start. Run the program with
// --test_input '{"input": {"name": "Ada"}}' to try one job, or with
// --rp_serve_api for a local endpoint.
func ExampleStart() {
	serverless.Start(serverless.Config{
		Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
			return map[string]any{"echo": job.Input}, nil
		},
	})
}
