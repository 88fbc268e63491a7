package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestReplicasReportSharedQueueGauges: with two replicas on one NATS
// server, jobs submitted to replica A are counted as submitted by A alone,
// while the queue gauges of both replicas show them (they read the shared
// engine), then show one in progress once a worker on B holds it.
func TestReplicasReportSharedQueueGauges(t *testing.T) {
	a, b, cfg := twoReplicas(t)

	const n = 3
	for i := range n {
		if r := a.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"sleep_ms":60000,"echo":%d}}`, i)); r.code != 200 {
			t.Fatalf("run on a: %d %s", r.code, r.body)
		}
	}
	metric := func(s *server, line string) func() bool {
		return func() bool {
			r, err := s.try("GET", "/metrics", ck, nil)
			return err == nil && r.code == 200 && strings.Contains(string(r.body), "\n"+line+"\n")
		}
	}
	for name, s := range map[string]*server{"a": a, "b": b} {
		testutil.WaitFor(t, 10*time.Second, "3 jobs queued in the metrics of "+name, metric(s, `sluice_jobs_queued{endpoint="ep"} 3`))
	}
	testutil.WaitFor(t, 10*time.Second, "3 jobs submitted on a", metric(a, `sluice_jobs_submitted_total{endpoint="ep"} 3`))
	if r := b.do(t, "GET", "/metrics", ck, nil); strings.Contains(string(r.body), "sluice_jobs_submitted_total") {
		t.Errorf("b counts jobs submitted to a:\n%s", r.body)
	}

	// A worker on b takes one job (it runs one at a time, for a minute):
	// both replicas see 2 queued and 1 in progress.
	b.startWorker(t, "ep", "on-b", nil, "--config", cfg)
	for name, s := range map[string]*server{"a": a, "b": b} {
		testutil.WaitFor(t, 30*time.Second, "2 queued and 1 in progress in the metrics of "+name, func() bool {
			return metric(s, `sluice_jobs_queued{endpoint="ep"} 2`)() && metric(s, `sluice_jobs_in_progress{endpoint="ep"} 1`)()
		})
	}
}
