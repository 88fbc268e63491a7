// Command concurrent is a worker that runs several jobs at once. Its
// ConcurrencyModifier raises the number of jobs it takes by one on every
// take loop, up to MAX_CONCURRENCY (default 4).
//
//	go run ./examples/concurrent --test_input '{"input": {"sleep_ms": 100}}'
//	go run ./examples/concurrent --rp_serve_api --rp_api_concurrency 4
package main

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

// input is what a job sends.
type input struct {
	// SleepMS is how long the job pretends to work.
	SleepMS int `json:"sleep_ms"`
}

// work waits for the requested time, or until the job is cancelled.
func work(ctx context.Context, in input) (map[string]any, error) {
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Duration(in.SleepMS) * time.Millisecond):
	}
	return map[string]any{"slept_ms": time.Since(start).Milliseconds()}, nil
}

// modifier grows concurrency by one per call, up to limit.
func modifier(limit int) func(current int) int {
	return func(current int) int {
		return max(1, min(current+1, limit))
	}
}

// maxConcurrency reads MAX_CONCURRENCY, defaulting to 4.
func maxConcurrency(getenv func(string) string) int {
	if n, err := strconv.Atoi(getenv("MAX_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 4
}

func main() {
	serverless.Start(serverless.Config{
		Handler:             serverless.Typed(work),
		ConcurrencyModifier: modifier(maxConcurrency(os.Getenv)),
	})
}
