package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestFitnessFailureIsTheExitReason: a Go SDK worker whose fitness check
// fails exits before taking a job; its status and crash record say which
// check failed and why.
func TestFitnessFailureIsTheExitReason(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: unfit
    command: [FITWORKERBIN]
    workersMin: 1
`, nil)
	const want = "exited with status 1: fitness check failed: gpu: no CUDA device"
	var st EndpointStatus
	testutil.WaitFor(t, 30*time.Second, "the fitness failure as the last exit", func() bool {
		st, _ = h.sup.Status("unfit")
		return st.CrashStreak >= 1 && st.LastExit != ""
	})
	if st.LastExit != want {
		t.Errorf("LastExit %q, want %q (last lines %q)", st.LastExit, want, st.LastLines)
	}
	ws := h.sup.Workers("unfit")
	if len(ws) == 0 || !strings.HasSuffix(ws[0].Exit, "fitness check failed: gpu: no CUDA device") {
		t.Errorf("crash records %+v, want the fitness failure", ws)
	}
	h.js.mu.Lock()
	defer h.js.mu.Unlock()
	if len(h.js.workers) != 0 {
		t.Errorf("the unfit worker took or pinged: %v", h.js.workers)
	}
}

func TestFitnessFailureLine(t *testing.T) {
	for _, c := range []struct {
		tail []string
		want string
	}{
		{nil, ""},
		{[]string{"INFO | hi", "serverless: fitness check failed: disk: full", "ERROR | after"}, "fitness check failed: disk: full"},
		{[]string{"serverless: fitness check failed: a: 1", "serverless: fitness check failed: b: 2"}, "fitness check failed: b: 2"},
		{[]string{"fitness check failed: not from the SDK"}, ""},
	} {
		if got := fitnessFailure(c.tail); got != c.want {
			t.Errorf("fitnessFailure(%q) = %q, want %q", c.tail, got, c.want)
		}
	}
}
