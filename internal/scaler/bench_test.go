package scaler

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// BenchmarkColdStart measures a job sent to an endpoint with no worker, until
// its result is posted: Notify, the scaling decision, starting the (small Go)
// worker process, its first job-take and the job itself. Each iteration uses
// a fresh endpoint; the previous one is removed (its worker stopped) with the
// timer off.
func BenchmarkColdStart(b *testing.B) {
	h := newHarness(b, "endpoints:\n  - id: cold0\n", func(c *Config) { c.PingInterval = time.Second })
	prev, i := "cold0", 0
	for b.Loop() {
		b.StopTimer()
		i++
		ep := fmt.Sprintf("cold%d", i)
		h.update(fmt.Sprintf("endpoints:\n  - id: %s\n    command: [TESTWORKERBIN]\n    workersMax: 1\n", ep))
		testutil.WaitFor(b, 30*time.Second, prev+" removed", func() bool {
			_, ok := h.sup.Status(prev)
			return !ok
		})
		prev = ep
		b.StartTimer()
		h.js.waitDone(30*time.Second, h.submit(ep, map[string]any{"sleep_ms": 0}))
	}
}
