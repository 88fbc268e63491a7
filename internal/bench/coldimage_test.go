package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
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
	podman := testutil.NeedBinary(t, "podman")
	testutil.NeedBinary(t, "runc", "/usr/sbin/runc")
	dir := t.TempDir()
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_CONF", conf) // the workers' runtime reads the server's env
	globals := []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "sluice"), "./cmd/sluice")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static sluice: %v\n%s", err, out)
	}
	cf := "FROM scratch\nCOPY sluice /sluice\nENTRYPOINT [\"/sluice\", \"bench-worker\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	image := "localhost/sluice-bench-test-" + hex.EncodeToString(r[:]) + ":1"
	pod := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(podman, append(globals, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	pod("build", "--quiet", "--tag", image, dir)
	t.Cleanup(func() { pod("rmi", "--force", image) })

	opts := workerOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := ColdStart(ctx, ColdOptions{Samples: 2, WorkerCommand: opts.WorkerCommand, WorkerEnv: opts.WorkerEnv,
		Image: ImageWorker{Image: image, Runtime: "podman", RuntimeArgs: globals}})
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
