// Package deploy holds the install and deploy artefacts (container image,
// systemd unit, docker-compose example, Helm chart, GoReleaser config at the
// repository root) and the tests that build, lint, render or run each one.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository root (this package is deploy/).
var repoRoot, _ = filepath.Abs("..")

// run runs name with args in dir (the repository root when empty) and
// returns its combined output; a failure ends the test with that output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = repoRoot
	}
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// envLines splits `sluice worker-env --format env` output (KEY=value lines).
func envLines(t *testing.T, out string) []string {
	t.Helper()
	var env []string
	for line := range strings.Lines(out) {
		kv := strings.TrimSpace(line)
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " '") {
			t.Fatalf("worker-env line %q is not KEY=value", line)
		}
		env = append(env, kv)
	}
	return env
}

func itoa(n int) string { return strconv.Itoa(n) }

// runsyncOnWorker starts the echo worker bin with env (a worker of endpoint
// echo on the server at addr), sends it {"via": via} with /runsync and checks
// that worker wid answered it with the echo.
func runsyncOnWorker(t *testing.T, bin string, env []string, addr, via, wid string) {
	t.Helper()
	w := exec.Command(bin)
	w.Env = env
	var wlog bytes.Buffer
	w.Stdout, w.Stderr = &wlog, &wlog
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = w.Process.Kill()
		_ = w.Wait()
		if t.Failed() {
			t.Logf("worker output:\n%s", wlog.String())
		}
	}()
	body := fmt.Sprintf(`{"input":{"via":%q}}`, via)
	req, err := http.NewRequest("POST", "http://"+addr+"/v2/echo/runsync?wait=60000", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer client-key")
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var job struct {
		Status   string          `json:"status"`
		WorkerID string          `json:"workerId"`
		Output   json.RawMessage `json:"output"`
	}
	want := fmt.Sprintf(`{"echo":{"via":%q}}`, via)
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil || job.Status != "COMPLETED" || job.WorkerID != wid || string(job.Output) != want {
		t.Errorf("runsync via %s: %+v (%v), want COMPLETED by %s with %s", via, job, err, wid, want)
	}
}
