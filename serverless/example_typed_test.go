package serverless_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
)

// Typed decodes the job's input into the function's parameter type. Input
// that does not fit fails the job with a message naming the field.
func ExampleTyped() {
	type input struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	type output struct {
		Sum int `json:"sum"`
	}
	cfg := serverless.Config{Handler: serverless.Typed(func(ctx context.Context, in input) (output, error) {
		return output{Sum: in.A + in.B}, nil
	})}

	for _, raw := range []string{`{"a": 2, "b": 3}`, `{"a": "two"}`} {
		job, _ := serverless.ParseJob([]byte(`{"id": "job-1", "input": ` + raw + `}`))
		res, err := serverless.Exec(context.Background(), cfg, job)
		if err != nil {
			panic(err)
		}
		if res.Failed {
			fmt.Println("failed:", res.ErrorMessage)
			continue
		}
		fmt.Println("output:", string(res.Output))
	}
	// Output:
	// output: {"sum":5}
	// failed: invalid input: input field "a": expected int, got JSON string
}
