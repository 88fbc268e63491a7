package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// python returns the virtualenv's python with runpod-python installed
// (scripts/test.sh installs it; SLUICE_VENV overrides the location), or
// skips the test.
func python(t *testing.T) string {
	t.Helper()
	venv := os.Getenv("SLUICE_VENV")
	if venv == "" {
		venv = "../../.venv"
	}
	py, err := filepath.Abs(filepath.Join(venv, "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(py, "-c", "import runpod").Run(); err != nil {
		t.Skipf("runpod-python not installed at %s (scripts/test.sh installs it): %v", venv, err)
	}
	return py
}

// startPythonWorker runs an examples/python worker with worker-env's environment.
func (s *server) startPythonWorker(t *testing.T, py, script, endpoint, workerID string, extraEnv ...string) {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("..", "..", "examples", "python", script))
	cmd.Env = append(append(os.Environ(), s.workerEnv(t, endpoint, workerID)...), extraEnv...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	// runpod-python pings from a child process that inherits stdout: the
	// worker runs in its own process group, which cleanup ends as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		syscall.Kill(-pgid, syscall.SIGKILL) // the ping process, if it outlived the worker
		if t.Failed() {
			t.Logf("python worker %s log (tail):\n%s", workerID, tail(log.String(), 3000))
		}
	})
}

// TestPythonWorkerAndClient runs unmodified runpod-python workers against
// sluice serve (plain, progress, error, streaming), and drives them with
// runpod-python's own client (runpod.Endpoint) pointed at the server.
func TestPythonWorkerAndClient(t *testing.T) {
	py := python(t)
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey},
		"--endpoint", "py", "--endpoint", "pystream", "--ping-interval", "2s")
	s.startPythonWorker(t, py, "echo_worker.py", "py", "py-1")
	s.startPythonWorker(t, py, "stream_worker.py", "pystream", "py-2")

	r := s.do(t, "POST", "/v2/py/runsync?wait=60000", ck, []byte(`{"input":{"echo":{"msg":"héllo"}}}`))
	if m := r.json(t); m["status"] != "COMPLETED" || fmt.Sprint(m["output"]) != "map[echo:map[msg:héllo]]" || m["workerId"] != "py-1" {
		t.Errorf("python echo: %s", r.body)
	}
	r = s.do(t, "POST", "/v2/py/run", ck, []byte(`{"input":{"fail":"bad thing"}}`))
	m := s.waitStatus(t, ck, "py", r.json(t)["id"].(string), 60*time.Second, "FAILED")
	if e := fmt.Sprint(m["error"]); !strings.Contains(e, "bad thing") || !strings.Contains(e, "error_traceback") {
		t.Errorf("python exception: %v", m)
	}
	r = s.do(t, "POST", "/v2/py/run", ck, []byte(`{"input":{"progress":2,"sleep":1.5}}`))
	id := r.json(t)["id"].(string)
	eventually(t, 30*time.Second, "the python progress update in /status", func() bool {
		m := s.do(t, "GET", "/v2/py/status/"+id, ck, nil).json(t)
		out, _ := m["output"].(map[string]any)
		return m["status"] == "IN_PROGRESS" && out != nil && out["step"] != nil
	})
	s.waitStatus(t, ck, "py", id, 30*time.Second, "COMPLETED")

	// runpod-python's client: run + status + output, stream, run_sync, health.
	script := `
import os, sys, json, runpod
runpod.api_key = os.environ["KEY"]
ep = runpod.Endpoint("py")
print(json.dumps(ep.run_sync({"echo": 7}, timeout=60)))
job = ep.run({"input": {"echo": "async"}})
print(json.dumps(job.output(timeout=60)))
sj = runpod.Endpoint("pystream").run({"n": 4})
print(json.dumps(list(sj.stream())))
print(json.dumps(sorted(ep.health()["workers"].keys())))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Env = append(os.Environ(), "KEY="+clientKey, "RUNPOD_ENDPOINT_BASE_URL="+s.url+"/v2")
	out, err := cmd.CombinedOutput()
	want := `{"echo": 7}
{"echo": "async"}
[{"chunk": 0}, {"chunk": 1}, {"chunk": 2}, {"chunk": 3}]
["idle", "initializing", "ready", "running", "throttled", "unhealthy"]`
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("runpod-python client: %v\n%s\nwant:\n%s", err, out, want)
	}
}
