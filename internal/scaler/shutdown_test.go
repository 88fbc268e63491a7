package scaler

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestShutdownWaitsForBusyWorker: at shutdown a busy worker gets SIGTERM
// only once its job is done (the Go SDK would cancel the job's context), so
// the job completes without seeing SIGTERM and is not re-run.
func TestShutdownWaitsForBusyWorker(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: sd
    command: [TESTWORKERBIN]
    workersMin: 2
    workersMax: 2
`, nil)
	testutil.WaitFor(t, 20*time.Second, "2 workers up", func() bool { return h.sup.Counts("sd").Idle == 2 })
	id := h.submit("sd", map[string]any{"sleep_ms": 1500})
	testutil.WaitFor(t, 10*time.Second, "the job to run", func() bool { return h.sup.Counts("sd").Running == 1 })
	h.stop() // checks that every worker process is gone
	j := h.js.job(id)
	if j.State != "done" || j.Output["termDuringJob"] != false || j.Requeued != 0 {
		t.Errorf("job after a shutdown while it ran: %+v, want done once, without SIGTERM during the job", j)
	}
}
