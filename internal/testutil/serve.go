package testutil

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartServe starts `bin serve args...` in a process group of its own,
// its output in the returned Buffer. At cleanup it is sent SIGTERM and
// waited for, killed with its group if it does not stop within 60 s (a
// test error); its output is logged when the test failed.
func StartServe(t testing.TB, bin string, args ...string) *Buffer {
	t.Helper()
	log := &Buffer{}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s serve: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			t.Logf("sluice serve exited: %v", err)
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("sluice serve did not stop within 60 s of SIGTERM (killed: %v)", <-done)
		}
		if t.Failed() {
			t.Logf("sluice serve output:\n%s", log.String())
		}
	})
	return log
}
