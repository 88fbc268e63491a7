package scaler

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

func TestBurstRequestCountScalesToMaxAndToZero(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: rc
    command: [WORKER]
    workersMax: 3
    idleTimeout: 1
    scalerType: REQUEST_COUNT
    scalerValue: 1
`, nil)
	if n := len(h.live("rc")); n != 0 {
		t.Fatalf("%d workers before any job, want 0", n)
	}
	s := h.sample("rc")
	var ids []string
	for range 6 {
		ids = append(ids, h.submit("rc", map[string]any{"sleep_ms": 600}))
	}
	eventually(t, 20*time.Second, "3 workers", func() bool { return len(h.live("rc")) == 3 })
	jobs := h.js.waitDone(30*time.Second, ids...)
	workers := map[string]bool{}
	for _, j := range jobs {
		if j.Takes != 1 {
			t.Errorf("job %s taken %d times", j.ID, j.Takes)
		}
		workers[j.Output["worker"].(string)] = true
	}
	if len(workers) < 2 {
		t.Errorf("6 jobs ran on %d workers, want them spread", len(workers))
	}
	var pids []int
	for _, w := range h.live("rc") {
		pids = append(pids, w.PID)
	}
	eventually(t, 20*time.Second, "scale to zero", func() bool { return len(h.sup.Workers("rc")) == 0 })
	if peak := s.peak(); peak != 3 {
		t.Errorf("peak workers = %d, want workersMax 3", peak)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after scale to zero", pid)
		}
	}
	if c := h.sup.Counts("rc"); c != (engine.WorkerCounts{}) {
		t.Errorf("counts after scale to zero: %+v", c)
	}
}
