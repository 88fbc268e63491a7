package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestColdStartImage measures two cold starts of container workers under
// real Podman (a FROM scratch image of the static sluice binary running
// bench-worker), each in turn with a process worker's: every part is
// measured and both tables print.
func TestColdStartImage(t *testing.T) {
	pod := testutil.NeedPodman(t)
	k, v, _ := strings.Cut(pod.Env[0], "=")
	t.Setenv(k, v) // the workers' runtime reads the server's environment
	image := pod.BuildScratch("../..", "./cmd/sluice", "bench-worker")

	opts := workerOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := ColdStart(ctx, ColdOptions{Samples: 2, WorkerCommand: opts.WorkerCommand, WorkerEnv: opts.WorkerEnv,
		Image: ImageWorker{Image: image, Runtime: "podman", RuntimeArgs: pod.Globals}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Samples != 2 || rep.Baseline == nil || rep.Baseline.Samples != 2 {
		t.Fatalf("report %+v", rep)
	}
	for name, s := range map[string]Span{"total": rep.Total, "reaction": rep.Reaction, "runtime": rep.RuntimeInit, "hand-off": rep.HandOff,
		"baseline total": rep.Baseline.Total} {
		if s.P50 <= 0 || s.P90 < s.P50 {
			t.Errorf("%s: %+v, want 0 < p50 <= p90", name, s)
		}
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 cold starts of image " + image, "runtime's part", "baseline, sampled in turn", "worker: fork/exec"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
