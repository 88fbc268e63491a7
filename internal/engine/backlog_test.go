package engine

import (
	"encoding/json"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// cpuTime is the CPU time this process has used (user and system). The
// embedded server runs in the process, so it includes the server's work.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// addBacklog queues n entries behind the endpoint's jobs, in its normal
// priority's queue, for jobs that are never taken in the test (FIFO puts
// them after everything submitted before). They are sent asynchronously and
// awaited together.
func addBacklog(t testing.TB, e *Engine, ep string, n int) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	var futs []jetstream.PubAckFuture
	for i := range n {
		r := &record{Job: Job{ID: fmt.Sprintf("backlog-%d-%d", time.Now().UnixNano(), i), Endpoint: ep,
			Policy: Policy{TTL: time.Hour}, CreatedAt: time.Now()}, Epoch: 1}
		m, opts := queueMsg(r, false)
		f, err := e.js.PublishMsgAsync(m, opts...)
		if err != nil {
			t.Fatalf("backlog entry %d: %v", i, err)
		}
		futs = append(futs, f)
		if len(futs) == 4096 || i == n-1 {
			for _, f := range futs {
				if _, err := awaitAck(ctx, f); err != nil {
					t.Fatalf("backlog entry: %v", err)
				}
			}
			futs = futs[:0]
		}
	}
}

// fillQueue submits jobs and queues depth entries behind them.
func fillQueue(t testing.TB, e *Engine, ep string, jobs, depth int) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	for range jobs {
		if _, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)}); err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	addBacklog(t, e, ep, depth)
}

// drain takes and finishes jobs one take at a time, reading the queue
// figures after each (as the autoscaler of `sluice serve` may).
func drain(t testing.TB, e *Engine, ep string, jobs int) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	for range jobs {
		if _, err := e.QueueStats(ctx, ep); err != nil {
			t.Fatalf("queue stats: %v", err)
		}
		got, err := e.Take(ctx, ep, "w", 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("take: %d jobs, %v", len(got), err)
		}
		if err := e.Finish(ctx, ep, "w", got[0].ID, Result{Output: json.RawMessage(`1`)}); err != nil {
			t.Fatalf("finish: %v", err)
		}
	}
}

// takeCost queues jobs with depth entries behind them, drains the jobs and
// returns the CPU time, heap allocations and NATS messages sent on the
// engine's connection per job.
func takeCost(t testing.TB, e *Engine, ep string, jobs, depth int) (cpu time.Duration, allocs, msgs float64) {
	t.Helper()
	fillQueue(t, e, ep, jobs, depth)
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	st0, c0 := e.nc.Stats(), cpuTime(t)
	drain(t, e, ep, jobs)
	c1, st1 := cpuTime(t), e.nc.Stats()
	runtime.ReadMemStats(&ms1)
	n := float64(jobs)
	return (c1 - c0) / time.Duration(jobs), float64(ms1.Mallocs-ms0.Mallocs) / n, float64(st1.OutMsgs-st0.OutMsgs) / n
}

// TestTakeCostFlat: a take (with a look at the queue figures) costs the same
// with 1,000 or 100,000 entries queued behind it. Cost is counted in CPU time of the process (the embedded server
// runs in it), heap allocations and messages sent per job, not in wall
// time. A queue layout whose fetch scans the backlog (as a subject per job
// under a wildcard consumer did) costs many times more CPU per take at
// 100,000 than at 1,000; the bound allows 3 times for noise.
func TestTakeCostFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a queue of 100,000 entries")
	}
	e, ep, _ := soloEngine(t)
	const jobs = 300
	cpuSmall, allocSmall, msgSmall := takeCost(t, e, ep, jobs, 1_000)
	// A second endpoint: the first one's backlog would be ahead of new jobs.
	ep2 := newEndpoint()
	e.SetEndpoints([]EndpointSettings{{ID: ep}, {ID: ep2}})
	cpuBig, allocBig, msgBig := takeCost(t, e, ep2, jobs, 100_000)
	t.Logf("per job at 1k queued: %v CPU, %.0f allocs, %.1f msgs out; at 100k: %v CPU, %.0f allocs, %.1f msgs out",
		cpuSmall, allocSmall, msgSmall, cpuBig, allocBig, msgBig)
	if cpuBig > 3*cpuSmall {
		t.Errorf("CPU per take grows with the backlog: %v at 1k queued, %v at 100k", cpuSmall, cpuBig)
	}
	if allocBig > 3*allocSmall {
		t.Errorf("allocations per take grow with the backlog: %.0f at 1k queued, %.0f at 100k", allocSmall, allocBig)
	}
	if msgBig > msgSmall+1 {
		t.Errorf("messages per take grow with the backlog: %.1f at 1k queued, %.1f at 100k", msgSmall, msgBig)
	}
}

// BenchmarkDrain measures taking and finishing jobs one take at a time
// with 1,000 or 100,000 entries queued behind them (embedded engine).
func BenchmarkDrain(b *testing.B) {
	for _, depth := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("queued-%d", depth), func(b *testing.B) {
			e, ep := benchEngine(b, false)
			fillQueue(b, e, ep, b.N, depth)
			runtime.GC()
			c0 := cpuTime(b)
			b.ResetTimer()
			drain(b, e, ep, b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(b.N), "cpu-µs/job")
		})
	}
}
