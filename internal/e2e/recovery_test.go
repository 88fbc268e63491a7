package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
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
	testutil.WaitFor(t, 45*time.Second, "the job to fail", func() bool {
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

// TestCrashLoopFailsQueuedJobs: with crashLoopFailAfter, a job queued on an
// endpoint whose workers exit at start FAILS with the reason (the last exit
// and the log command) instead of waiting; /health shows the crash loop
// with the last exit and log lines.
func TestCrashLoopFailsQueuedJobs(t *testing.T) {
	const line = "fatal: no GPU visible (crash-loop test)"
	s := managedWith(t, fmt.Sprintf(`pingIntervalMs: 1000
endpoints:
  - id: as
    command: [%q]
    workersMax: 1
    crashLoopFailAfter: 2
    env:
      E2E_CRASH: %q
`, bins.worker, line))
	id := s.submit(t, "as", `{"echo": 1}`)
	st := s.waitStatus(t, "", "as", id, 60*time.Second, "FAILED", "COMPLETED")
	msg := fmt.Sprint(st["error"])
	if st["status"] != "FAILED" || !strings.Contains(msg, "crash-looping") || !strings.Contains(msg, "exited with status 2") ||
		!strings.Contains(msg, "sluice logs as") {
		t.Fatalf("job on a crash-looping endpoint: %v", st)
	}
	r := s.do(t, "GET", "/v2/as/health", "", nil)
	var h struct {
		CrashLoop *struct {
			Crashes         int      `json:"crashes"`
			LastExit        string   `json:"lastExit"`
			LogTail         []string `json:"logTail"`
			FailsQueuedJobs bool     `json:"failsQueuedJobs"`
		} `json:"crashLoop"`
	}
	if err := json.Unmarshal(r.body, &h); err != nil || h.CrashLoop == nil {
		t.Fatalf("health: %v %s", err, r.body)
	}
	if c := h.CrashLoop; c.Crashes < 2 || !strings.Contains(c.LastExit, "exited with status 2") || !slices.Contains(c.LogTail, line) || !c.FailsQueuedJobs {
		t.Errorf("health crashLoop: %+v", c)
	}
}

// TestStoppedWorkerLeavesCounts: once a worker stopped on scale-down is
// gone from /workers, /health no longer counts it either (it used to count
// as idle until its pings timed out).
func TestStoppedWorkerLeavesCounts(t *testing.T) {
	s := managedWith(t, fmt.Sprintf(`pingIntervalMs: 1000
endpoints:
  - id: as
    command: [%q]
    workersMax: 1
    idleTimeout: 1
`, bins.worker), "--worker-lost-after", "60s")
	r := s.do(t, "POST", "/v2/as/runsync", "", []byte(`{"input":{"echo":1}}`))
	if st, _ := r.json(t)["status"].(string); st != "COMPLETED" {
		t.Fatalf("runsync: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 30*time.Second, "the idle worker to stop", func() bool { return len(s.live(t, "as")) == 0 })
	if c := s.counts(t, "as"); c["idle"]+c["ready"]+c["running"]+c["initializing"] != 0 {
		t.Fatalf("/workers lists no worker but /health counts %v", c)
	}
}
