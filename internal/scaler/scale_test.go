package scaler

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestBurstRequestCountScalesToMaxAndToZero(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: rc
    command: [TESTWORKERBIN]
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
	testutil.WaitFor(t, 20*time.Second, "3 workers", func() bool { return len(h.live("rc")) == 3 })
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
	testutil.WaitFor(t, 20*time.Second, "scale to zero", func() bool { return len(h.sup.Workers("rc")) == 0 })
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

func TestBurstQueueDelay(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: qd
    command: [TESTWORKERBIN]
    workersMax: 2
    idleTimeout: 1
    scalerType: QUEUE_DELAY
    scalerValue: 1
`, nil)
	s := h.sample("qd")
	var ids []string
	for range 4 {
		ids = append(ids, h.submit("qd", map[string]any{"sleep_ms": 1500}))
	}
	testutil.WaitFor(t, 20*time.Second, "2 workers", func() bool { return len(h.live("qd")) == 2 })
	ws := h.live("qd")
	if gap := ws[1].StartedAt.Sub(ws[0].StartedAt); gap < time.Second {
		t.Errorf("second worker started %s after the first; QUEUE_DELAY 1 adds one only after a job waited 1 s", gap)
	}
	h.js.waitDone(30*time.Second, ids...)
	testutil.WaitFor(t, 20*time.Second, "scale to zero", func() bool { return len(h.sup.Workers("qd")) == 0 })
	if peak := s.peak(); peak != 2 {
		t.Errorf("peak workers = %d, want 2", peak)
	}
}

// With a tick of an hour, only Notify can start the first worker.
func TestNotifyStartsWorkerWithoutTick(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: cold
    command: [TESTWORKERBIN]
`, func(c *Config) { c.Tick = time.Hour })
	id := h.submit("cold", map[string]any{"sleep_ms": 1})
	h.js.waitDone(20*time.Second, id)
}

// TestLowPriorityNeverScalesUp: low-priority jobs never start a worker (as
// on Runpod): on an endpoint at zero they wait; a normal job starts one
// worker, which then runs the low-priority jobs too, and none is added for
// them.
func TestLowPriorityNeverScalesUp(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: low
    command: [TESTWORKERBIN]
    workersMax: 3
    scalerType: REQUEST_COUNT
    scalerValue: 1
`, nil)
	s := h.sample("low")
	var ids []string
	for range 3 {
		ids = append(ids, h.js.submit("low", map[string]any{"sleep_ms": 300}, true))
	}
	h.sup.Notify("low")
	// A bounded observation window of 20 supervisor ticks (50 ms each
	// here): no worker may appear for low-priority jobs alone.
	window := time.Now().Add(20 * 50 * time.Millisecond)
	for time.Now().Before(window) {
		if n := len(h.live("low")); n != 0 {
			t.Fatalf("%d worker(s) started for low-priority jobs alone", n)
		}
		time.Sleep(10 * time.Millisecond) // sampling the negative condition
	}
	ids = append(ids, h.submit("low", map[string]any{"sleep_ms": 300}))
	jobs := h.js.waitDone(30*time.Second, ids...)
	if peak := s.peak(); peak != 1 {
		t.Errorf("peak workers = %d (3 low-priority jobs and 1 normal one, REQUEST_COUNT 1), want 1", peak)
	}
	if w := jobs[0].Output["worker"]; w != jobs[3].Output["worker"] {
		t.Errorf("low-priority jobs ran on another worker than the normal one: %v, %v", w, jobs[3].Output["worker"])
	}
}

func TestScaleDownNeverInterruptsRunningJob(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: sd
    command: [TESTWORKERBIN]
    workersMax: 2
    idleTimeout: 1
    scalerType: REQUEST_COUNT
    scalerValue: 1
`, func(c *Config) { c.StopGrace = 300 * time.Millisecond })
	long := h.submit("sd", map[string]any{"sleep_ms": 4000})
	short := h.submit("sd", map[string]any{"sleep_ms": 50})
	sj := h.js.waitDone(20*time.Second, short)[0]
	// The short job's worker goes idle and is stopped while the long job runs.
	testutil.WaitFor(t, 20*time.Second, "idle worker stopped", func() bool {
		for _, w := range h.sup.Workers("sd") {
			if w.ID == sj.Output["worker"] {
				return false
			}
		}
		return true
	})
	lj := h.js.waitDone(20*time.Second, long)[0]
	if lj.Takes != 1 || lj.Output["termDuringJob"] != false {
		t.Errorf("long job: takes %d, SIGTERM during job %v; want 1 take, no SIGTERM", lj.Takes, lj.Output["termDuringJob"])
	}

	// Lowering workersMax to 0 while a job runs: the worker finishes it first.
	busy := h.submit("sd", map[string]any{"sleep_ms": 1500})
	testutil.WaitFor(t, 20*time.Second, "job running", func() bool { return h.js.job(busy).State == "running" })
	h.update("endpoints:\n  - id: sd\n    command: [TESTWORKERBIN]\n    workersMax: 0\n")
	bj := h.js.waitDone(20*time.Second, busy)[0]
	if bj.Takes != 1 || bj.Output["termDuringJob"] != false {
		t.Errorf("job during workersMax 0: takes %d, SIGTERM during job %v", bj.Takes, bj.Output["termDuringJob"])
	}
	testutil.WaitFor(t, 20*time.Second, "no workers at workersMax 0", func() bool { return len(h.sup.Workers("sd")) == 0 })
}
