package engine

import (
	"context"
	"testing"
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
	cpu0 := cpuTime(b)
	submitTakeFinish(ctx, b, e, ep)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
}
