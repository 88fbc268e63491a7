package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestHelperStartProcess is the worker program the Start tests run as a
// separate process (it does nothing in a normal test run).
func TestHelperStartProcess(t *testing.T) {
	mode := os.Getenv("SERVERLESS_HELPER")
	if mode == "" {
		t.Skip("helper process for the Start tests")
	}
	Start(Config{Args: []string{"--rp_log_level", "INFO"}, Handler: func(ctx context.Context, job *Job) (any, error) {
		if err := ProgressUpdate(ctx, job, "started"); err != nil {
			return nil, err
		}
		switch mode {
		case "stubborn":
			select {} // ignores ctx: only a third signal ends the process
		case "drain":
			// Runs until the test creates the release file, after SIGTERM.
			release := os.Getenv("SERVERLESS_RELEASE")
			for {
				if _, err := os.Stat(release); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return "cancelled", nil
				case <-time.After(5 * time.Millisecond): // polling for the file
				}
			}
			return "drained", nil
		}
		<-ctx.Done()
		return "cancelled", nil
	}})
}

// startHelper runs TestHelperStartProcess against fp.
func startHelper(t *testing.T, fp *fakePlatform, mode string) (*exec.Cmd, *testutil.Buffer, chan error) {
	t.Helper()
	fastTimings(t)
	fp.setEnv(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SERVERLESS_HELPER="+mode, "RUNPOD_ENDPOINT_ID=ep-1",
		"SERVERLESS_RELEASE="+filepath.Join(t.TempDir(), "release"))
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op when it has exited
		<-waited
	})
	return cmd, out, exited
}

// shuttingDown starts the helper in mode, gives it job id, waits until the
// job runs, sends SIGTERM and waits for the worker to say it shuts down.
func shuttingDown(t *testing.T, mode, id string) (*fakePlatform, *exec.Cmd, *testutil.Buffer, chan error) {
	t.Helper()
	fp := newFakePlatform(t)
	cmd, out, exited := startHelper(t, fp, mode)
	fp.jobs <- `{"id":"` + id + `","input":1}`
	fp.waitForWithin(t, time.Minute, "the job's progress update", func(reqs []fpRequest) bool {
		return len(fp.requests("done")) >= 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForOutput(t, out, exited, "Shutting down")
	return fp, cmd, out, exited
}

// waitExit waits up to a minute for the helper to exit and returns how.
func waitExit(t *testing.T, out *testutil.Buffer, exited chan error, after string) error {
	t.Helper()
	select {
	case err := <-exited:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("worker did not exit after %s; output:\n%s", after, out.String())
		return nil
	}
}

func TestStartSIGTERMDrainsAndExitsZero(t *testing.T) {
	fp, cmd, out, exited := shuttingDown(t, "drain", "sig")
	// The job is still running, its ctx alive: let it finish.
	if err := os.WriteFile(releasePath(cmd), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, out, exited, "SIGTERM"); err != nil {
		t.Fatalf("worker exited with %v, want status 0; output:\n%s", err, out.String())
	}
	done := fp.requests("done")
	if len(done) != 2 || done[1].Body != `{"output":"drained"}` {
		t.Errorf("done posts:\n%s", transcript(done))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != "--- Starting Serverless Worker |  Version "+Version+" ---" {
		t.Errorf("first line %q is not the banner", lines[0])
	}
	var sawJobLine bool
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "PASS") || strings.HasPrefix(l, "ok ") || l == "" {
			continue
		}
		var rec struct {
			RequestID *string `json:"requestId"`
			Message   string  `json:"message"`
			Level     string  `json:"level"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Level == "" {
			t.Errorf("stdout line is not a JSON log line: %q", l)
			continue
		}
		if rec.Level == "DEBUG" {
			t.Errorf("DEBUG line printed at --rp_log_level INFO: %q", l)
		}
		if rec.RequestID != nil && *rec.RequestID == "sig" && rec.Message == "Finished." {
			sawJobLine = true
		}
	}
	if !sawJobLine {
		t.Errorf("no JSON Finished line for the job; output:\n%s", out.String())
	}
}

// TestStartSecondSignalCancelsJobs: a second signal cancels the running
// jobs' ctx; their results are posted and the worker exits 0.
func TestStartSecondSignalCancelsJobs(t *testing.T) {
	fp, cmd, out, exited := shuttingDown(t, "hard", "hard")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, out, exited, "a second SIGTERM"); err != nil {
		t.Fatalf("worker exited with %v, want status 0; output:\n%s", err, out.String())
	}
	done := fp.requests("done")
	if len(done) != 2 || done[1].Body != `{"output":"cancelled"}` {
		t.Errorf("done posts:\n%s", transcript(done))
	}
}

// TestStartThirdSignalExitsAtOnce: a handler that ignores its ctx cannot
// hold the process once a third signal comes.
func TestStartThirdSignalExitsAtOnce(t *testing.T) {
	_, cmd, out, exited := shuttingDown(t, "stubborn", "stuck")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForOutput(t, out, exited, "second signal")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, out, exited, "a third SIGTERM")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("worker ended with %v, want killed by SIGTERM", err)
	}
}

// waitForOutput waits until the helper's output contains text; the helper
// must not exit meanwhile.
func waitForOutput(t *testing.T, out *testutil.Buffer, exited chan error, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the worker's output; output:\n%s", text, out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("worker exited (%v) while waiting for %q; output:\n%s", err, text, out.String())
		case <-time.After(10 * time.Millisecond): // polling the output for a line
		}
	}
}

// releasePath is the release file of a "drain" helper.
func releasePath(cmd *exec.Cmd) string {
	for _, kv := range cmd.Env {
		if v, ok := strings.CutPrefix(kv, "SERVERLESS_RELEASE="); ok {
			return v
		}
	}
	return ""
}
