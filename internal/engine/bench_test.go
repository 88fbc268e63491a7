package engine

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// BenchmarkSubmitTakeFinish measures jobs/s through the embedded engine: each
// iteration submits a job, takes it and finishes it.
func BenchmarkSubmitTakeFinish(b *testing.B) {
	for _, strict := range []bool{false, true} {
		name := "interval-sync"
		if strict {
			name = "strict-sync"
		}
		b.Run(name, func(b *testing.B) {
			e, ep := benchEngine(b, strict)
			ctx := context.Background()
			b.ResetTimer()
			st0 := e.nc.Stats()
			submitTakeFinish(ctx, b, e, ep)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			// NATS messages per job on the engine's connection: each
			// JetStream round trip is one out (request or publish) and one in
			// (reply or ack); nudges are out only, parked-waiter wake-ups in only.
			st := e.nc.Stats()
			b.ReportMetric(float64(st.OutMsgs-st0.OutMsgs)/float64(b.N), "msgs-out/job")
			b.ReportMetric(float64(st.InMsgs-st0.InMsgs)/float64(b.N), "msgs-in/job")
		})
	}
}

// BenchmarkPipelined measures throughput with several submitters and workers
// working at once on the embedded engine.
func BenchmarkPipelined(b *testing.B) {
	e, ep := benchEngine(b, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const workers = 8
	done := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	// Workers stop before the engine closes, so none is left running.
	defer func() {
		cancel()
		wg.Wait()
	}()
	for w := range workers {
		wg.Go(func() {
			wid := "w" + string(rune('a'+w))
			for ctx.Err() == nil {
				jobs, err := e.Take(ctx, ep, wid, 4)
				if err != nil {
					return
				}
				for _, j := range jobs {
					if e.Finish(context.Background(), ep, wid, j.ID, Result{Output: j.Input}) == nil {
						select {
						case done <- struct{}{}:
						case <-ctx.Done():
						}
					}
				}
			}
		})
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for range b.N {
		<-done
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.StopTimer()
	cancel()
}

// BenchmarkSubmitToTake measures the time from Submit returning to a parked
// Take (long poll already waiting) returning the job, embedded.
func BenchmarkSubmitToTake(b *testing.B) {
	e, ep := benchEngine(b, false)
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		got := make(chan time.Time, 1)
		parked := make(chan struct{})
		go func() {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			close(parked)
			jobs, err := e.Take(tctx, ep, "lat", 1)
			if err != nil || len(jobs) != 1 {
				b.Errorf("take: %v, %d jobs", err, len(jobs))
			}
			got <- time.Now()
			if len(jobs) == 1 {
				_ = e.Finish(ctx, ep, "lat", jobs[0].ID, Result{})
			}
		}()
		<-parked
		b.StartTimer()
		if _, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		total += (<-got).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-submit-to-take")
}

// benchEngine opens an embedded engine for a benchmark on a fresh data
// directory with one new endpoint, whose workers are never declared lost
// while it runs; strict fsyncs every write. It closes when b ends.
func benchEngine(b *testing.B, strict bool) (*Engine, string) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.WorkerLostAfter = time.Minute
	cfg.DataDir = b.TempDir()
	cfg.StrictSync = strict
	return openEngine(b, cfg), ep
}

// submitTakeFinish is the benchmarks' hot path loop: each iteration
// submits one job, takes it and finishes it.
func submitTakeFinish(ctx context.Context, b *testing.B, e *Engine, ep string) {
	in := json.RawMessage(`{"prompt":"hello"}`)
	out := json.RawMessage(`{"text":"world"}`)
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
}
