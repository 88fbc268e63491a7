package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// managedWith is managed with a full config file and extra serve flags.
func managedWith(t *testing.T, yaml string, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, append([]string{"--config", cfg}, args...)...)
}

// TestDeadWorkerRequeuedAtOnce: a managed worker that exits mid-job loses
// its job as soon as the supervisor sees the exit, not after the ping
// timeout (60 s here): the job is run again by a new worker, which exits
// too, and the job FAILS with an error naming the exit status and the log
// command, long before a single ping timeout could have passed. /status
// never shows the job IN_PROGRESS on a worker already seen dead. (The 45 s
// deadline is below one ping timeout: two losses by ping would take 120 s.)
func TestDeadWorkerRequeuedAtOnce(t *testing.T) {
	s := managedWith(t, fmt.Sprintf(`pingIntervalMs: 1000
maxRetries: 1
endpoints:
  - id: as
    command: [%q]
    workersMax: 1
`, bins.worker), "--worker-lost-after", "60s")
	submitted := time.Now()
	id := s.submit(t, "as", `{"exit": true}`)

	dead := map[string]bool{}
	var st map[string]any
	eventually(t, 45*time.Second, "the job to fail", func() bool {
		_, crashed, err := s.procs("as")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range crashed {
			dead[c.ID] = true
		}
		r := s.do(t, "GET", "/v2/as/status/"+id, "", nil)
		st = r.json(t)
		if w, _ := st["workerId"].(string); st["status"] == "IN_PROGRESS" && dead[w] {
			t.Fatalf("/status shows the job IN_PROGRESS on worker %s, already seen dead: %v", w, st)
		}
		return st["status"] == "FAILED"
	})
	took := time.Since(submitted)
	msg := fmt.Sprint(st["error"])
	if !strings.Contains(msg, "exited with status 3") || !strings.Contains(msg, "sluice logs as --worker as-") {
		t.Errorf("error %q, want the exit status and the log command", msg)
	}
	if r, _ := st["retries"].(float64); r != 1 {
		t.Errorf("retries %v, want 1 (run twice)", st["retries"])
	}
	t.Logf("job failed %s after submit, after 2 worker exits: %s", took.Round(time.Millisecond), msg)
}
