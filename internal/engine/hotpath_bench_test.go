package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkHotPath is submit + take + finish of one job at a time on the
// embedded engine, with the CPU the process spent per job (engine and
// embedded NATS server): the figure the job listing must not make worse.
func BenchmarkHotPath(b *testing.B) { benchHotPath(b, nil) }

// benchHotPath runs the hot path loop; start, when set, runs first on the
// engine (e.g. starts the listing index).
func benchHotPath(b *testing.B, start func(ctx context.Context, e *Engine, ep string)) {
	e, ep := benchEngine(b, false)
	ctx := context.Background()
	if start != nil {
		start(ctx, e, ep)
	}
	in := json.RawMessage(`{"prompt":"hello"}`)
	out := json.RawMessage(`{"text":"world"}`)
	cpu0 := cpuTime(b)
	for b.Loop() {
		j, err := e.Submit(ctx, ep, SubmitRequest{Input: in})
		if err != nil {
			b.Fatal(err)
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		jobs, err := e.Take(tctx, ep, "bench", 1)
		cancel()
		if err != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
			b.Fatalf("take: %v, %d jobs", err, len(jobs))
		}
		if err := e.Finish(ctx, ep, "bench", j.ID, Result{Output: out}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
}
