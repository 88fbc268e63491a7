package scaler

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logs"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestWedgedWorkerRestarted: a worker that keeps running a cancelled job
// (and ignores SIGTERM) is never IDLE; after stopGraceSeconds it is
// UNHEALTHY, gets SIGTERM, then SIGKILL a grace later, and the next job
// runs on its replacement, with never more than workersMax processes.
func TestWedgedWorkerRestarted(t *testing.T) {
	st := newStack(t, `
endpoints:
  - id: wd
    command: [TESTWORKERBIN]
    workersMax: 1
    idleTimeout: 60
    stopGraceSeconds: 1
    workerKey: wk-wd
    env:
      WORKER_IGNORE_TERM: "1"
`, 200*time.Millisecond)
	ctx := t.Context()
	a := st.run(t, "wd", `{"sleep_ms":600000}`)
	var wedged string
	testutil.WaitFor(t, 30*time.Second, "the job to start", func() bool {
		j, err := st.eng.Get(ctx, "wd", a)
		wedged = j.WorkerID
		return err == nil && j.Status == engine.StatusInProgress
	})
	if _, err := st.eng.Cancel(ctx, "wd", a); err != nil {
		t.Fatal(err)
	}
	b := st.run(t, "wd", `{}`)
	// The supervisor's view is as of its last evaluation, which on a busy
	// machine may predate the take: the wedged worker may read IDLE until
	// the supervisor has seen it busy once, and never after.
	peak, unhealthy, busySeen := 0, false, false
	s := st.wait(t, "wd", b, func() {
		live := 0
		for _, w := range st.sup.Workers("wd") {
			if !w.ExitedAt.IsZero() {
				continue
			}
			live++
			if w.ID != wedged {
				continue
			}
			if busySeen && w.Status == StatusIdle {
				t.Fatalf("the worker still running cancelled job %s is IDLE: %+v", a, w)
			}
			busySeen = busySeen || w.Status == StatusRunning || w.Status == StatusUnhealthy
			unhealthy = unhealthy || w.Status == StatusUnhealthy
		}
		peak = max(peak, live)
	})
	if s.Output["worker"] == wedged || !unhealthy || peak > 1 {
		t.Errorf("next job ran on %v (wedged: %s); wedged seen unhealthy: %v; peak %d workers (max 1)", s.Output["worker"], wedged, unhealthy, peak)
	}
	recs, err := st.sup.Logs().Read(context.WithoutCancel(ctx), logs.Filter{Endpoint: "wd", Worker: wedged})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r logs.Record) bool {
		return r.Stream == logs.StreamSystem && strings.Contains(r.Line, "SIGKILL (still running 1s after SIGTERM (unhealthy: still running stopped job "+a)
	}) {
		t.Errorf("no SIGKILL line with the reason in the wedged worker's log: %+v", recs)
	}
}
