package console

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func finished(ep string, status engine.Status, delay, exec time.Duration) *engine.Job {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &engine.Job{Endpoint: ep, Status: status, CreatedAt: at, StartedAt: at.Add(delay), FinishedAt: at.Add(delay + exec)}
}

// TestSeriesCountsAndPercentiles: counts per minute and status, and
// p50/p95 within the histogram's 4.5 % of the true values.
func TestSeriesCountsAndPercentiles(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 12, 30, 10, 0, time.UTC)}
	s := NewSeries(clk.now)
	for i := 1; i <= 100; i++ {
		s.JobFinished(finished("a", engine.StatusCompleted, time.Duration(i)*time.Millisecond, time.Duration(i)*time.Second))
	}
	s.JobFinished(finished("a", engine.StatusFailed, time.Millisecond, time.Second))
	s.JobFinished(finished("a", engine.StatusTimedOut, time.Millisecond, time.Second))
	s.JobFinished(&engine.Job{Endpoint: "a", Status: engine.StatusCancelled}) // never started
	s.QueuedEnded("a", engine.StatusCancelled, 5)
	s.QueuedEnded("a", engine.StatusFailed, 3)
	c := s.Snapshot([]string{"a", "b"})
	last := Window - 1
	a := c.Endpoints["a"]
	if a.Completed[last] != 100 || a.Failed[last] != 5 || a.Cancelled[last] != 6 {
		t.Errorf("last minute completed/failed/cancelled = %d/%d/%d, want 100/5/6", a.Completed[last], a.Failed[last], a.Cancelled[last])
	}
	near := func(name string, got *float64, want float64) {
		if got == nil || math.Abs(*got-want)/want > 0.045 {
			t.Errorf("%s = %v, want %v ± 4.5%%", name, got, want)
		}
	}
	// 102 delays: 1..100 ms and two of 1 ms; exec 1..100 s and two of 1 s.
	near("delay p50", a.DelayP50[last], 49)
	near("delay p95", a.DelayP95[last], 94)
	near("exec p50", a.ExecP50[last], 49000)
	near("exec p95", a.ExecP95[last], 94000)
	if a.DelayP50[last-1] != nil || a.Completed[last-1] != 0 {
		t.Error("an empty minute has values")
	}
	if c.Minutes[last] != time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC).UnixMilli() || c.Minutes[0] != time.Date(2026, 1, 1, 11, 31, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("minutes run %d..%d", c.Minutes[0], c.Minutes[last])
	}
	if b := c.Endpoints["b"]; len(b.Completed) != Window || b.Completed[last] != 0 {
		t.Errorf("endpoint without data: %+v", b.Completed)
	}

	// A minute later the figures move one slot left; an hour later they are gone.
	clk.add(time.Minute)
	if got := s.Snapshot([]string{"a"}).Endpoints["a"].Completed; got[last-1] != 100 || got[last] != 0 {
		t.Errorf("after a minute: %v", got[last-1:])
	}
	clk.add(Window * time.Minute)
	s.JobFinished(finished("a", engine.StatusCompleted, 0, 0))
	got := s.Snapshot([]string{"a"}).Endpoints["a"]
	sum := 0
	for _, n := range got.Completed {
		sum += n
	}
	if sum != 1 || got.Completed[last] != 1 {
		t.Errorf("after an hour: %d jobs in the window, want the 1 new one", sum)
	}
}

func BenchmarkSeriesJobFinished(b *testing.B) {
	s := NewSeries(nil)
	j := finished("a", engine.StatusCompleted, 3*time.Millisecond, 40*time.Millisecond)
	for b.Loop() {
		s.JobFinished(j)
	}
}
