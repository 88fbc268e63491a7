package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkHotPathIndexed is BenchmarkHotPath with the listing index
// running (a List before the loop), so every record write also reaches the
// index: the cost of the index while someone lists.
func BenchmarkHotPathIndexed(b *testing.B) {
	benchHotPath(b, func(ctx context.Context, e *Engine, ep string) {
		if _, err := e.List(ctx, ep, ListQuery{}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkListFirstPage fills an endpoint with LIST_BENCH_JOBS retained
// jobs (default 1,000,000: 97% COMPLETED, 2% IN_QUEUE, 1% FAILED) written
// straight to the jobs stream, then measures the first List (which builds
// the index from the stream, as after a restart) and pages on the built
// index.
func BenchmarkListFirstPage(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LIST_BENCH_JOBS")); err == nil && v > 0 {
		n = v
	}
	e, ep := benchEngine(b, false)
	ctx := context.Background()
	t0 := time.Now()
	fillRecords(b, e, ep, n)
	b.Logf("%d records stored in %s", n, time.Since(t0).Round(time.Millisecond))

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	t0, cpu0 := time.Now(), cpuTime(b)
	first, err := e.List(ctx, ep, ListQuery{})
	if err != nil || len(first.Jobs) != DefaultListLimit {
		b.Fatalf("first list: %v", err)
	}
	build, buildCPU := time.Since(t0), cpuTime(b)-cpu0
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.Logf("first List (index built from %d records): %s, CPU %s; heap +%d MB (%d B/job)", n, build.Round(time.Millisecond), buildCPU.Round(time.Millisecond),
		(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))>>20, (int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/int64(n))

	deep := first.Next
	for range 100 { // 5,000 jobs down
		p, err := e.List(ctx, ep, ListQuery{After: deep})
		if err != nil {
			b.Fatal(err)
		}
		deep = p.Next
	}
	for _, c := range []struct {
		name string
		q    ListQuery
	}{
		{"all", ListQuery{}},
		{"FAILED", ListQuery{Statuses: []Status{StatusFailed}}},
		{"IN_QUEUE,FAILED", ListQuery{Statuses: []Status{StatusInQueue, StatusFailed}}},
		{"all-limit-500", ListQuery{Limit: MaxListLimit}},
		{"all-page-101", ListQuery{After: deep}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuTime(b)
			for b.Loop() {
				p, err := e.List(ctx, ep, c.q)
				if err != nil || len(p.Jobs) == 0 {
					b.Fatalf("list: %v, %d jobs", err, len(p.Jobs))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/page")
		})
	}
}

// fillRecords stores n job records of ep straight in the jobs stream (no
// queue entries), one creation time per millisecond ending now.
func fillRecords(b *testing.B, e *Engine, ep string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	var futs []jetstream.PubAckFuture
	for i := range n {
		created := now.Add(-time.Duration(n-i) * time.Millisecond)
		r := &record{Job: Job{ID: fmt.Sprintf("bench-%08d", i), Endpoint: ep, Status: StatusCompleted,
			Input: json.RawMessage(`{"prompt":"hello"}`), Policy: Policy{TTL: 2 * time.Hour}, CreatedAt: created},
			ExpireAt: now.Add(time.Hour)}
		switch {
		case i%100 == 7:
			r.Status, r.Error = StatusFailed, errorValue("ValueError: bad input")
		case i%50 == 3:
			r.Status = StatusInQueue
		}
		if r.Status != StatusInQueue {
			r.WorkerID, r.StartedAt, r.FinishedAt = "w1", created.Add(time.Millisecond), created.Add(3*time.Millisecond)
			r.Output = json.RawMessage(`{"text":"world"}`)
		}
		m, opts, err := recordMsg(r, 0)
		if err != nil {
			b.Fatal(err)
		}
		f, err := e.js.PublishMsgAsync(m, opts...)
		if err != nil {
			b.Fatalf("record %d: %v", i, err)
		}
		futs = append(futs, f)
		if len(futs) == 8192 || i == n-1 {
			for _, f := range futs {
				if _, err := awaitAck(ctx, f); err != nil {
					b.Fatalf("record: %v", err)
				}
			}
			futs = futs[:0]
		}
	}
}
