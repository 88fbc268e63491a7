// Command errors shows the ways a job fails:
//
//   - returning {"error": ...}: the job is FAILED with exactly that error
//     (use it for errors meant for the caller, such as bad input);
//
//   - returning a Go error: the job is FAILED with runpod-python's error
//     object (type, message, stack, host, worker id) as a JSON string;
//
//   - panicking: like a returned error; the worker keeps running.
//
//     go run ./examples/errors --test_input '{"input": {"divide": 1, "by": 0}}'
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
)

// input is what a job sends.
type input struct {
	Divide *float64 `json:"divide"`
	By     *float64 `json:"by"`
	// Panic makes the handler panic, to show that panics fail only the job.
	Panic bool `json:"panic"`
}

// errDivideByZero is returned, wrapped, when "by" is zero.
var errDivideByZero = errors.New("division by zero")

func handler(ctx context.Context, job *serverless.Job) (any, error) {
	var in input
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.Panic:
		panic("asked to panic")
	case in.Divide == nil || in.By == nil:
		// A caller mistake: report it as the job's error, verbatim.
		return map[string]any{"error": `input needs "divide" and "by"`}, nil
	case *in.By == 0:
		return nil, fmt.Errorf("divide %v: %w", *in.Divide, errDivideByZero)
	}
	return map[string]any{"quotient": *in.Divide / *in.By}, nil
}

func main() {
	serverless.Start(serverless.Config{Handler: handler})
}
