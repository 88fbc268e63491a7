package scaler

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// fitnessPrefix starts the line the Go SDK prints on stderr when a fitness
// check fails (serverless.Config.FitnessChecks).
const fitnessPrefix = "serverless: fitness check failed: "

// fitnessFailure is the failed fitness check among a worker's last lines
// ("fitness check failed: NAME: ERROR"), or "".
func fitnessFailure(tail []string) string {
	for _, l := range slices.Backward(tail) {
		if _, why, ok := strings.Cut(l, fitnessPrefix); ok {
			return "fitness check failed: " + why
		}
	}
	return ""
}

// describeExit says how a worker process ended, for people: "exited with
// status 1", "was killed by signal SIGSEGV", "was killed by the kernel's
// OOM killer". oomBefore is the OOM-kill count of Sluice's cgroup when the
// worker started (-1: unknown).
func describeExit(err error, oomBefore int) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return "ended: " + err.Error()
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return "ended: " + err.Error()
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && oomBefore >= 0 && oomKills() > oomBefore:
		return "was killed by the kernel's OOM killer (out of memory; signal SIGKILL)"
	case ws.Signaled():
		return "was killed by signal " + unix.SignalName(ws.Signal())
	default:
		return "exited with status " + strconv.Itoa(ws.ExitStatus())
	}
}

// oomKills reads the OOM-kill count of this process's cgroup (cgroup v2
// memory.events), in which the workers it starts run too; -1 when unknown.
func oomKills() int {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return -1
	}
	// cgroup v2: a single line "0::/path".
	_, path, ok := strings.Cut(strings.TrimSpace(string(b)), "::")
	if !ok {
		return -1
	}
	f, err := os.Open(filepath.Join("/sys/fs/cgroup", path, "memory.events"))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == "oom_kill" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// exitCause is why a worker's jobs were taken from it, for the engine's
// error: how it ended and where its log is.
func exitCause(w *worker) string {
	how := describeExit(w.exitErr, w.oomAtStart)
	if w.killed {
		how = fmt.Sprintf("was killed by Sluice (%s)", w.reason)
	}
	return fmt.Sprintf("%s; its log: sluice logs %s --worker %s", how, w.ep.cfg.ID, w.id)
}
