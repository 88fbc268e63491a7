package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestCLIClient drives the sluice client commands against the real server:
// runsync, run + wait, a failing job's exit code, endpoints, workers, health.
func TestCLIClient(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey}, "--endpoint", "ep")
	s.startWorker(t, "ep", "cli-w", nil)
	sluice := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bins.sluice, args...)
		cmd.Env = append(os.Environ(), "SLUICE_URL="+s.url, "SLUICE_API_KEY="+clientKey)
		out, errb, code, err := testutil.Run(cmd)
		if err != nil {
			t.Fatalf("sluice %v: %v", args, err)
		}
		if code != 0 {
			t.Logf("sluice %v: exit %d, stderr: %s", args, code, errb)
		}
		return out, code
	}
	if out, code := sluice("runsync", "ep", `{"echo":"from-cli"}`); code != 0 || !strings.Contains(out, "from-cli") {
		t.Errorf("runsync: exit %d, %q", code, out)
	}
	id, code := sluice("run", "ep", `{"echo":"later"}`)
	if code != 0 || strings.TrimSpace(id) == "" {
		t.Fatalf("run: exit %d, %q", code, id)
	}
	if out, code := sluice("wait", "ep", strings.TrimSpace(id)); code != 0 || !strings.Contains(out, "later") {
		t.Errorf("wait: exit %d, %q", code, out)
	}
	if _, code := sluice("runsync", "ep", `{"fail":"nope"}`); code != 3 {
		t.Errorf("runsync of a failing job: exit %d, want 3", code)
	}
	if out, code := sluice("endpoints"); code != 0 || !strings.Contains(out, "ep") {
		t.Errorf("endpoints: exit %d, %q", code, out)
	}
	if out, code := sluice("workers", "ep"); code != 0 || !strings.Contains(out, "cli-w") {
		t.Errorf("workers: exit %d, %q", code, out)
	}
	if out, code := sluice("health", "ep", "--json"); code != 0 || !strings.Contains(out, `"unhealthy"`) {
		t.Errorf("health: exit %d, %q", code, out)
	}
}
