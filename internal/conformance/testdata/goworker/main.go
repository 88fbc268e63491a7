// Command goworker is the Go SDK twin of examples/python/*.py: the same
// inputs give the same client-visible results, which the conformance tests
// compare. WORKER_KIND selects the handler: echo (echo_worker.py), stream
// (stream_worker.py; AGGREGATE=1 for return_aggregate_stream) or async
// (async_worker.py; CONCURRENCY jobs at once).
package main

import (
	"context"
	"errors"
	"iter"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

type echoInput struct {
	Echo     any      `json:"echo"`
	Fail     *string  `json:"fail"`
	Error    *string  `json:"error"`
	Refresh  bool     `json:"refresh"`
	Progress int      `json:"progress"`
	Sleep    *float64 `json:"sleep"`
}

type streamInput struct {
	N     *int    `json:"n"`
	Sleep float64 `json:"sleep"`
}

func pause(ctx context.Context, seconds float64) error {
	if seconds <= 0 {
		return nil
	}
	select {
	case <-time.After(time.Duration(seconds * float64(time.Second))):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func echo(ctx context.Context, job *serverless.Job) (any, error) {
	var in echoInput
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	for i := range in.Progress {
		if err := serverless.ProgressUpdate(ctx, job, map[string]any{"step": i + 1}); err != nil {
			return nil, err
		}
	}
	if in.Sleep != nil {
		if err := pause(ctx, *in.Sleep); err != nil {
			return nil, err
		}
	}
	if in.Fail != nil {
		return nil, errors.New(*in.Fail)
	}
	if in.Error != nil {
		return map[string]any{"error": *in.Error}, nil
	}
	out := map[string]any{"echo": in.Echo}
	if in.Refresh {
		out["refresh_worker"] = true
	}
	return out, nil
}

func stream(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		var in streamInput
		if err := job.Decode(&in); err != nil {
			yield(nil, err)
			return
		}
		n := 3
		if in.N != nil {
			n = *in.N
		}
		for i := range n {
			if err := pause(ctx, in.Sleep); err != nil {
				yield(nil, err)
				return
			}
			if !yield(map[string]any{"chunk": i}, nil) {
				return
			}
		}
	}
}

func main() {
	cfg := serverless.Config{}
	switch os.Getenv("WORKER_KIND") {
	case "stream":
		cfg.StreamHandler = stream
		cfg.ReturnAggregateStream = os.Getenv("AGGREGATE") == "1"
	case "async":
		cfg.StreamHandler = stream
		cfg.ReturnAggregateStream = true
		n, err := strconv.Atoi(os.Getenv("CONCURRENCY"))
		if err != nil || n < 1 {
			n = 4
		}
		cfg.ConcurrencyModifier = func(int) int { return n }
	default:
		cfg.Handler = echo
	}
	serverless.Start(cfg)
}
