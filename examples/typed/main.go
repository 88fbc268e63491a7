// Command typed is a worker whose handler takes and returns Go types:
// serverless.Typed decodes the job's input into the handler's parameter and
// fails the job, naming the field, when the input does not fit.
//
//	go run ./examples/typed --test_input '{"input": {"op": "sum", "numbers": [1, 2, 3]}}'
package main

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
)

// Input is what a job sends.
type Input struct {
	Op      string    `json:"op"`
	Numbers []float64 `json:"numbers"`
}

// Output is what a job returns.
type Output struct {
	Op     string  `json:"op"`
	Result float64 `json:"result"`
}

// calculate applies Op to Numbers.
func calculate(ctx context.Context, in Input) (Output, error) {
	if len(in.Numbers) == 0 {
		return Output{}, fmt.Errorf("no numbers to %s", in.Op)
	}
	out := Output{Op: in.Op, Result: in.Numbers[0]}
	for _, n := range in.Numbers[1:] {
		switch in.Op {
		case "sum":
			out.Result += n
		case "product":
			out.Result *= n
		case "max":
			out.Result = max(out.Result, n)
		default:
			return Output{}, fmt.Errorf("unknown op %q (want sum, product or max)", in.Op)
		}
	}
	return out, nil
}

func main() {
	serverless.Start(serverless.Config{Handler: serverless.Typed(calculate)})
}
