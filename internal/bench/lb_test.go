package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// envLBWorker makes the test binary run as the load-balancing worker.
const envLBWorker = "SLUICE_BENCH_TEST_LB_WORKER"

func init() {
	if os.Getenv(envLBWorker) == "1" {
		os.Exit(untilSignal(LBWorkerMain))
	}
}

// TestLB runs a small LB benchmark end to end: a real server, its LB
// worker started by the supervisor, direct and proxied calls.
func TestLB(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := LB(ctx, LBOptions{WorkerCommand: []string{exe}, WorkerEnv: []string{envLBWorker + "=1"},
		Samples: 20, Concurrency: 4, Requests: 200, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DirectP50 <= 0 || rep.ProxyP50 <= 0 || rep.ProxyP99 < rep.ProxyP50 || rep.DirectRate <= 0 || rep.ProxyRate <= 0 ||
		rep.BareRate <= 0 || rep.ProxyCPU <= 0 {
		t.Errorf("report has unmeasured figures: %+v", rep)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"direct to the worker's PORT", "through /lb/{endpoint}/...", "proxy adds", "bare httputil.ReverseProxy"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
