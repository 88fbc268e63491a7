package serverless_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
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
		res, err := serverlesstest.Exec(context.Background(), cfg, json.RawMessage(raw))
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
