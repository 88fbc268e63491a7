package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
		if mode == "stubborn" {
			select {} // ignores ctx: only a second signal ends the process
		}
		<-ctx.Done()
		return "drained", nil
	}})
}

// startHelper runs TestHelperStartProcess against fp.
func startHelper(t *testing.T, fp *fakePlatform, mode string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	fastTimings(t)
	fp.setEnv(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SERVERLESS_HELPER="+mode, "RUNPOD_ENDPOINT_ID=ep-1")
	out := &syncBuffer{}
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

func TestStartSIGTERMDrainsAndExitsZero(t *testing.T) {
	fp := newFakePlatform(t)
	cmd, out, exited := startHelper(t, fp, "drain")
	fp.jobs <- `{"id":"sig","input":1}`
	fp.waitForWithin(t, time.Minute, "the job's progress update", func(reqs []fpRequest) bool {
		return len(fp.requests("done")) >= 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("worker exited with %v, want status 0; output:\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("worker did not exit after SIGTERM; output:\n%s", out.String())
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

func TestStartSecondSignalExitsAtOnce(t *testing.T) {
	fp := newFakePlatform(t)
	cmd, out, exited := startHelper(t, fp, "stubborn")
	fp.jobs <- `{"id":"stuck","input":1}`
	fp.waitForWithin(t, time.Minute, "the job's progress update", func(reqs []fpRequest) bool {
		return len(fp.requests("done")) >= 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "Shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown log line after SIGTERM; output:\n%s", out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("worker exited (%v) while its job was still running", err)
		case <-time.After(10 * time.Millisecond): // polling the output for a line
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("worker ended with %v, want killed by SIGTERM", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("second SIGTERM did not end the worker; output:\n%s", out.String())
	}
}
