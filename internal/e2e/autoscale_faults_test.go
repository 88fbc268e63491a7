package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// Issue #4's failure cases: workers killed, hung or crash-looping, the
// server stopped mid-job, and invalid config files.

// TestAutoscaleKilledWorker: the worker process running a job is killed
// with SIGKILL; the supervisor starts a replacement, the job is re-run on
// it (retries 1) and completes.
func TestAutoscaleKilledWorker(t *testing.T) {
	s := managed(t, `    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 1
    idleTimeout: 5
`)
	started := filepath.Join(t.TempDir(), "started")
	id := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":1500,"started":%q,"echo":"again"}`, started))
	testutil.WaitFor(t, 30*time.Second, "the job to start on a worker", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	var victim procInfo
	testutil.WaitFor(t, 10*time.Second, "/workers to show the running worker", func() bool {
		live := s.live(t, "as")
		if len(live) == 1 && slices.Contains(live[0].Jobs, id) {
			victim = live[0]
			return true
		}
		return false
	})
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %s (pid %d): %v", victim.ID, victim.PID, err)
	}
	st := s.waitStatus(t, "", "as", id, time.Minute, "COMPLETED", "FAILED")
	if st["status"] != "COMPLETED" || st["workerId"] == victim.ID || st["workerId"] == "" {
		t.Fatalf("job after its worker %s was killed: %v", victim.ID, st)
	}
	if r, _ := st["retries"].(float64); r != 1 {
		t.Errorf("retries %v, want 1", st["retries"])
	}
	if out, _ := st["output"].(map[string]any); out["worker"] != st["workerId"] || out["echo"] != "again" {
		t.Errorf("output %v, want the replacement's (%v)", st["output"], st["workerId"])
	}
	live := s.live(t, "as")
	if len(live) != 1 || live[0].ID == victim.ID {
		t.Errorf("workers after the replacement: %+v", live)
	}
}

// TestAutoscaleHungWorker: a worker process that stops (SIGSTOP: alive but
// no longer pinging) mid-job is declared lost, killed and replaced; its job
// is re-run on the replacement and completes.
func TestAutoscaleHungWorker(t *testing.T) {
	s := managed(t, `    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 1
    idleTimeout: 5
`)
	started := filepath.Join(t.TempDir(), "started")
	id := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":1000,"started":%q}`, started))
	testutil.WaitFor(t, 30*time.Second, "the job to start on a worker", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	live := s.live(t, "as")
	if len(live) != 1 {
		t.Fatalf("workers: %+v", live)
	}
	hung := live[0]
	if err := syscall.Kill(hung.PID, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop worker %s (pid %d): %v", hung.ID, hung.PID, err)
	}
	// Never leave a stopped process behind if the test fails before it is
	// seen gone (and never signal its pid after that: it may be reused).
	gone := false
	t.Cleanup(func() {
		if !gone {
			_ = syscall.Kill(hung.PID, syscall.SIGKILL)
		}
	})
	st := s.waitStatus(t, "", "as", id, time.Minute, "COMPLETED", "FAILED")
	if st["status"] != "COMPLETED" || st["workerId"] == hung.ID {
		t.Fatalf("job after its worker %s hung: %v", hung.ID, st)
	}
	if r, _ := st["retries"].(float64); r != 1 {
		t.Errorf("retries %v, want 1", st["retries"])
	}
	testutil.WaitFor(t, 20*time.Second, "the hung worker's process to be gone", func() bool {
		gone = !slices.ContainsFunc(s.live(t, "as"), func(p procInfo) bool { return p.ID == hung.ID }) &&
			syscall.Kill(hung.PID, 0) != nil
		return gone
	})
}

// TestAutoscaleCrashLoop: a worker that exits at once makes the endpoint
// unhealthy in /health; its last lines are in the log route, in `sluice
// logs` and in the crash records of /workers; restarts back off (1 s, 2 s,
// 4 s, ...) instead of looping.
func TestAutoscaleCrashLoop(t *testing.T) {
	const line = "fatal: cannot load the model weights (crash-loop test)"
	s := managed(t, fmt.Sprintf(`    workersMin: 1
    workersMax: 1
    env:
      E2E_CRASH: %q
`, line))
	testutil.WaitFor(t, 30*time.Second, "/health to show the endpoint unhealthy", func() bool {
		return s.counts(t, "as")["unhealthy"] >= 1
	})
	if c := s.counts(t, "as"); c["idle"]+c["running"] != 0 {
		t.Errorf("a crash-looping endpoint shows healthy workers: %v", c)
	}
	_, crashed, err := s.procs("as")
	if err != nil {
		t.Fatal(err)
	}
	if len(crashed) == 0 || crashed[len(crashed)-1].Status != "UNHEALTHY" || !slices.Contains(crashed[len(crashed)-1].LogTail, line) {
		t.Errorf("crash records in /workers: %+v", crashed)
	}

	type logLine struct {
		TS     time.Time `json:"ts"`
		Stream string    `json:"stream"`
		Line   string    `json:"line"`
	}
	var starts []time.Time
	var lines []logLine
	// Four starts take at least 1+2+4 s of back-off.
	testutil.WaitFor(t, 40*time.Second, "four worker starts in the endpoint's log", func() bool {
		r := s.do(t, "GET", "/v2/as/logs", "", nil)
		var body struct {
			Lines []logLine `json:"lines"`
		}
		if r.code != 200 || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("GET /v2/as/logs: %d %s", r.code, r.body)
		}
		lines, starts = body.Lines, nil
		for _, l := range lines {
			if l.Stream == "system" && strings.Contains(l.Line, " started (pid ") {
				starts = append(starts, l.TS)
			}
		}
		return len(starts) >= 4
	})
	if !slices.ContainsFunc(lines, func(l logLine) bool { return l.Stream == "stderr" && l.Line == line }) {
		t.Errorf("the worker's stderr line is not in /logs: %+v", lines)
	}
	t.Logf("first starts: %v", starts)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if gap := starts[i+1].Sub(starts[i]); gap < want {
			t.Errorf("start %d came %v after start %d, want at least the %v back-off", i+2, gap, i+1, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.sluice, "logs", "as", "--url", s.url)
	cmd.Env = append(os.Environ(), "SLUICE_API_KEY=", "RUNPOD_API_KEY=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), line) || !strings.Contains(string(out), "crashed") {
		t.Errorf("sluice logs as: %v\n%s", err, out)
	}
}

// TestAutoscaleShutdownFinishesJob: `sluice serve` stopped with SIGTERM
// while a managed worker runs a job lets the worker finish it and post its
// result before exiting 0; after a restart the job is COMPLETED, not re-run.
func TestAutoscaleShutdownFinishesJob(t *testing.T) {
	s := managed(t, `    workersMax: 1
    idleTimeout: 30
`)
	dir := t.TempDir()
	started, stopped := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	id := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":2000,"started":%q,"stopped":%q,"echo":"last"}`, started, stopped))
	testutil.WaitFor(t, 30*time.Second, "the job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	s.stop() // fails the test unless serve exits 0 within 20 s
	if _, err := os.Stat(stopped); err == nil {
		t.Errorf("the job's context was cancelled by the shutdown (%s exists)", stopped)
	}
	s.start()
	st := s.waitStatus(t, "", "as", id, 5*time.Second, "COMPLETED", "FAILED", "IN_QUEUE", "IN_PROGRESS")
	if st["status"] != "COMPLETED" || st["output"].(map[string]any)["echo"] != "last" {
		t.Errorf("the job after a shutdown mid-job and a restart: %v, want COMPLETED by the first worker", st)
	}
	if r, _ := st["retries"].(float64); r != 0 {
		t.Errorf("retries %v, want 0", st["retries"])
	}
}

// TestConfigErrors: `sluice serve --config` on an invalid file exits
// non-zero at once, and stderr names the file, the line and the field.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // in stderr, after the file name
	}{
		{"unknown field", "endpoints:\n  - id: a\n    comand: [./w]\n", []string{":3:", "comand"}},
		{"bad scalerType", "endpoints:\n  - id: a\n    command: [./w]\n    scalerType: FOO\n", []string{":4:", "endpoints[0].scalerType", "FOO"}},
		{"workersMin above workersMax", "endpoints:\n  - id: a\n    command: [./w]\n    workersMin: 5\n    workersMax: 2\n", []string{":4:", "endpoints[0].workersMin", "workersMax"}},
		{"bad scalerValue", "endpoints:\n  - id: ok\n  - id: b\n    scalerValue: 0\n", []string{":4:", "endpoints[1].scalerValue"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(cfg, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins.sluice, "serve", "--config", cfg, "--addr", freeAddr(t), "--data-dir", filepath.Join(dir, "data"))
			var stderr testutil.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("sluice serve kept running on an invalid config:\n%s", stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
				t.Fatalf("exit code %d, want non-zero; stderr:\n%s", code, stderr.String())
			}
			msg := stderr.String()
			i := strings.Index(msg, cfg)
			if i < 0 {
				t.Fatalf("stderr does not name %s:\n%s", cfg, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg[i:], w) {
					t.Errorf("stderr lacks %q after the file name:\n%s", w, msg)
				}
			}
		})
	}
}
