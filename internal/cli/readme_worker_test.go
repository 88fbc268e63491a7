package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// readmeWorkerLines returns the shell lines of the README's external-worker
// recipe (the code block that evals sluice worker-env), comments removed.
func readmeWorkerLines(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```")
	for i := 1; i < len(blocks); i += 2 {
		if !strings.Contains(blocks[i], "eval \"$(sluice worker-env") {
			continue
		}
		var lines []string
		for line := range strings.Lines(strings.TrimPrefix(blocks[i], "sh\n")) {
			if code, _, _ := strings.Cut(line, "#"); strings.TrimSpace(code) != "" {
				lines = append(lines, strings.TrimSpace(code))
			}
		}
		return lines
	}
	t.Fatal("README.md has no code block with eval \"$(sluice worker-env ...)\"")
	return nil
}

// TestReadmeWorkerRecipe runs the README's external-worker lines in bash, as
// written (ENDPOINT replaced by the endpoint id), in a directory holding
// sluice.yaml and a runpod-python handler.py, against a real sluice serve
// started from that directory. The worker must take and complete a job: a
// variable the eval does not export would leave runpod-python without
// RUNPOD_WEBHOOK_GET_JOB, running a local test and exiting instead.
func TestReadmeWorkerRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a server")
	}
	python := testutil.RunpodPython(t)
	testutil.NeedBinary(t, "bash")
	lines := readmeWorkerLines(t)
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "python ") {
		t.Fatalf("README worker recipe is not eval + python: %q", lines)
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte("endpoints:\n  - id: py\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	handler, err := os.ReadFile(filepath.Join("..", "..", "examples", "python", "echo_worker.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, strings.Fields(lines[1])[1]), handler, 0o600); err != nil {
		t.Fatal(err)
	}

	// sluice serve runs in dir, so its default ./sluice-data is the one
	// worker-env reads the worker key from.
	base := startServeIn(t, dir, cleanEnv(), "--config", "sluice.yaml")

	// PATH: sluice and the venv's python first; SLUICE_URL: where the
	// kernel-chosen port is (worker-env's default --addr).
	path := bin + string(os.PathListSeparator) + filepath.Dir(python) + string(os.PathListSeparator) + os.Getenv("PATH")
	env := cleanEnv("PATH="+path, "SLUICE_URL="+base, "HOME="+t.TempDir())
	script := strings.ReplaceAll(strings.Join(lines, "\n"), "ENDPOINT", "py")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	worker := exec.CommandContext(ctx, "bash", "-c", script)
	worker.Dir, worker.Env = dir, env
	// Its own process group: bash does not pass SIGTERM on to python.
	worker.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	worker.Cancel = func() error { return syscall.Kill(-worker.Process.Pid, syscall.SIGKILL) }
	p := &proc{name: "README worker", cmd: worker, done: make(chan struct{})}
	worker.Stdout, worker.Stderr = p, p
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = worker.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("README worker output:\n%s", p.output())
		}
	})

	sluice := func(args ...string) result { return sluiceProc(t, cleanEnv("SLUICE_URL="+base), "", args...) }
	r := sluice("run", "py", `{"echo": "from the README"}`)
	id := strings.TrimSpace(r.out)
	if r.code != 0 || id == "" {
		t.Fatalf("run: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	testutil.WaitFor(t, 60*time.Second, "the README worker to complete the job", func() bool {
		select {
		case <-p.done:
			t.Fatalf("the README worker exited instead of taking jobs")
		default:
		}
		return sluice("status", "py", id).code != exitJobPending
	})
	sluice("wait", "py", id).check(t, 0, `{"echo":"from the README"}`+"\n", "")
}
