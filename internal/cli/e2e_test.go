package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The end-to-end test builds the sluice binary and three example workers,
// starts "sluice serve" on a loopback port chosen by the kernel, starts one
// worker per endpoint with the environment "sluice worker-env" prints, and
// drives the client commands as real processes.

// proc is a started process whose output is collected.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startProc starts a process and registers its shutdown (SIGTERM, then
// SIGKILL after 10 s) with t.Cleanup.
func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	return startProcIn(t, "", name, env, bin, args...)
}

// startProcIn is startProc with the working directory dir.
func startProcIn(t *testing.T, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s ignored SIGTERM for 10s", name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// cleanEnv is the test's environment without Sluice or Runpod settings.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNPOD_") && !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// parseEnvLines reads export KEY='value' lines as printed by sluice worker-env.
func parseEnvLines(t *testing.T, s string) []string {
	t.Helper()
	var env []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(line, "export ") || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			t.Fatalf("worker-env line %q is not export KEY='value'", line)
		}
		env = append(env, k+"="+strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`))
	}
	return env
}

var (
	buildOnce sync.Once
	binDir    string // built binaries, removed by TestMain
	buildErr  error
)

// buildBinaries builds sluice and the example workers once per test run.
func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sluice-cli-e2e-")
		if buildErr != nil {
			return
		}
		_, buildErr = testutil.BuildBinaries(binDir,
			"github.com/sluicehq/sluice/cmd/sluice",
			"github.com/sluicehq/sluice/examples/basic",
			"github.com/sluicehq/sluice/examples/streaming",
			"github.com/sluicehq/sluice/examples/progress")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// startServe starts "sluice serve" on a kernel-chosen loopback port and
// returns its base URL.
func startServe(t *testing.T, env []string, args ...string) string {
	t.Helper()
	return startServeIn(t, "", env, args...)
}

// startServeIn is startServe with the working directory dir.
func startServeIn(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	server := startProcIn(t, dir, "sluice serve", env, filepath.Join(buildBinaries(t), "sluice"),
		append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	addrRE := regexp.MustCompile(`msg="sluice serving" addr=(http://127\.0\.0\.1:\d+)`)
	var base string
	testutil.WaitFor(t, 60*time.Second, "sluice serve to listen", func() bool {
		if m := addrRE.FindStringSubmatch(server.output()); m != nil {
			base = m[1]
			return true
		}
		select {
		case <-server.done:
			t.Fatalf("sluice serve exited:\n%s", server.output())
		default:
		}
		return false
	})
	return base
}

// sluiceProc runs the sluice binary as a client with env and returns what
// it did.
func sluiceProc(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(buildBinaries(t), "sluice"), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, errOut, code, err := testutil.Run(cmd)
	if err != nil {
		t.Fatalf("sluice %v: %v", args, err)
	}
	return result{code, out, errOut}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a server")
	}
	bin := buildBinaries(t)
	dataDir := t.TempDir()
	base := startServe(t, cleanEnv(), "--data-dir", dataDir,
		"--endpoint", "echo", "--endpoint", "words", "--endpoint", "prog", "--ping-interval", "1s")

	sluice := func(stdin string, args ...string) result {
		t.Helper()
		return sluiceProc(t, cleanEnv("SLUICE_URL="+base), stdin, args...)
	}

	for ep, worker := range map[string]string{"echo": "basic", "words": "streaming", "prog": "progress"} {
		r := sluice("", "worker-env", ep, "--addr", strings.TrimPrefix(base, "http://"), "--data-dir", dataDir,
			"--endpoint", "echo", "--endpoint", "words", "--endpoint", "prog", "--ping-interval", "1s", "--worker-id", worker+"-1")
		if r.code != 0 {
			t.Fatalf("worker-env %s: exit %d: %s", ep, r.code, r.errOut)
		}
		startProc(t, worker+" worker", cleanEnv(parseEnvLines(t, r.out)...), filepath.Join(bin, worker))
	}

	// run prints a job id; wait prints the output; status shows COMPLETED.
	r := sluice("", "run", "echo", `{"message": "hi"}`)
	id := strings.TrimSpace(r.out)
	if r.code != 0 || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("run: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	sluice("", "wait", "echo", id).check(t, 0, `{"echo":{"message":"hi"}}`+"\n", "")
	r = sluice("", "status", "echo", id)
	// The labels are aligned to the longest present ("running" only when
	// the job took 1 ms or more), so the spacing varies.
	if r.code != 0 || !regexp.MustCompile(`(?m)^status +COMPLETED$`).MatchString(r.out) ||
		!regexp.MustCompile(`(?m)^output +\{"echo":\{"message":"hi"\}\}$`).MatchString(r.out) {
		t.Errorf("status: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	var st struct {
		ID     string          `json:"id"`
		Status string          `json:"status"`
		Output json.RawMessage `json:"output"`
	}
	r = sluice("", "status", "echo", id, "--json")
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != 0 || st.ID != id || st.Status != "COMPLETED" {
		t.Errorf("status --json: exit %d, %q (%v)", r.code, r.out, err)
	}

	// Input from stdin, wrapped or given as a whole body.
	sluice(`{"input": {"n": 1}}`, "runsync", "echo", "-").check(t, 0, `{"echo":{"n":1}}`+"\n", "")
	sluice(`[1, 2]`, "runsync", "echo", "-").check(t, 0, `{"echo":[1,2]}`+"\n", "")

	// stream prints the chunks in order as they arrive; the job COMPLETED.
	r = sluice("", "run", "words", `{"text": "one two three four", "delay_ms": 30}`)
	wid := strings.TrimSpace(r.out)
	if r.code != 0 {
		t.Fatalf("run words: exit %d: %s", r.code, r.errOut)
	}
	sluice("", "stream", "words", wid).check(t, 0, "\"one\"\n\"two\"\n\"three\"\n\"four\"\n", "")
	if r := sluice("", "status", "words", wid); r.code != 0 || !strings.Contains(r.out, "COMPLETED") {
		t.Errorf("status of the stream job: exit %d, stdout %q", r.code, r.out)
	}

	// runsync with progress updates ends with the final output.
	sluice("", "runsync", "prog", `{"steps": 3, "step_ms": 50}`).check(t, 0, `{"done":3}`+"\n", "")
	// A handler error: runsync and wait exit 3 with the job's error.
	r = sluice("", "runsync", "prog", `{"steps": 0}`)
	if r.code != 3 || r.out != "" || !strings.Contains(r.errOut, "FAILED") || !strings.Contains(r.errOut, "steps must be 1 to 1000") {
		t.Errorf("failing runsync: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}

	// Cancel a long job while it runs, then wait reports CANCELLED.
	r = sluice("", "run", "prog", `{"steps": 1000, "step_ms": 100}`)
	cid := strings.TrimSpace(r.out)
	testutil.WaitFor(t, 30*time.Second, "the long job to start", func() bool {
		r := sluice("", "status", "prog", cid)
		return r.code == exitJobPending && strings.Contains(r.out, "IN_PROGRESS")
	})
	r = sluice("", "cancel", "prog", cid)
	if r.code != 0 || !strings.Contains(r.out, "CANCELLED") {
		t.Errorf("cancel: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	sluice("", "wait", "prog", cid).check(t, 3, "", fmt.Sprintf("sluice: job %s CANCELLED\n", cid))

	// runsync --timeout shorter than the job: the id (sent before the wait)
	// and the wait/cancel lines, and the job goes on.
	r = sluice("", "runsync", "prog", `{"steps": 1000, "step_ms": 100}`, "--timeout", "1s")
	m := regexp.MustCompile(`job (\S+) not finished after 1s; it goes on \(sluice wait prog (\S+); sluice cancel prog (\S+)\)`).FindStringSubmatch(r.errOut)
	if r.code != exitJobPending || m == nil || m[1] != m[2] || m[1] != m[3] {
		t.Fatalf("runsync --timeout: exit %d, stderr %q", r.code, r.errOut)
	}
	if r = sluice("", "cancel", "prog", m[1]); r.code != 0 || !strings.Contains(r.out, "CANCELLED") {
		t.Errorf("cancel the runsync job %s: exit %d, stdout %q, stderr %q", m[1], r.code, r.out, r.errOut)
	}

	// health counts what happened; unknown jobs and endpoints are one clear line.
	r = sluice("", "health", "echo", "--json")
	var h struct{ Jobs struct{ Completed int } }
	if err := json.Unmarshal([]byte(r.out), &h); err != nil || r.code != 0 || h.Jobs.Completed < 3 {
		t.Errorf("health: exit %d, %q (%v)", r.code, r.out, err)
	}
	r = sluice("", "status", "echo", "no-such-job")
	if r.code != 1 || !strings.HasPrefix(r.errOut, "sluice: status job no-such-job: not found (404)") || strings.Count(r.errOut, "\n") != 1 {
		t.Errorf("unknown job: exit %d, stderr %q", r.code, r.errOut)
	}
	r = sluice("", "run", "nope", "{}")
	if r.code != 1 || !strings.HasPrefix(r.errOut, "sluice: run on nope: not found (404)") {
		t.Errorf("unknown endpoint: exit %d, stderr %q", r.code, r.errOut)
	}
}

// TestEndToEndManaged runs a server with a config file: a client API key
// and an endpoint whose workers Sluice starts itself, so the Sluice
// extensions (endpoints, workers, logs) have something to show.
func TestEndToEndManaged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a server")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf("apiKeys: [e2e-key]\npingIntervalMs: 1000\nendpoints:\n  - id: managed\n    command: [%q]\n    workersMax: 1\n    idleTimeout: 60\n",
		filepath.Join(bin, "basic"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, cleanEnv(), "--data-dir", filepath.Join(dir, "data"), "--config", cfg)
	env := cleanEnv("SLUICE_URL="+base, "SLUICE_API_KEY=e2e-key")
	sluice := func(args ...string) result {
		t.Helper()
		return sluiceProc(t, env, "", args...)
	}

	r := sluiceProc(t, cleanEnv("SLUICE_URL="+base, "RUNPOD_API_KEY=wrong"), "", "health", "managed")
	if r.code != 1 || !strings.HasPrefix(r.errOut, "sluice: health of managed: unauthorized (401)") ||
		!strings.HasSuffix(r.errOut, "(set $SLUICE_API_KEY or --api-key)\n") {
		t.Errorf("wrong key: exit %d, stderr %q", r.code, r.errOut)
	}
	sluice("runsync", "managed", `{"hello": "managed"}`).check(t, 0, `{"echo":{"hello":"managed"}}`+"\n", "")
	r = sluice("run", "managed", `{"n": 2}`)
	id := strings.TrimSpace(r.out)
	sluice("wait", "managed", id).check(t, 0, `{"echo":{"n":2}}`+"\n", "")

	r = sluice("endpoints")
	if r.code != 0 || !strings.HasPrefix(r.out, "ID ") || !strings.Contains(r.out, "\nmanaged ") {
		t.Errorf("endpoints: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	testutil.WaitFor(t, 20*time.Second, "the managed worker in sluice workers", func() bool {
		r = sluice("workers", "managed")
		return r.code == 0 && strings.HasPrefix(r.out, "ID ") && strings.Count(r.out, "\n") >= 2
	})
	r = sluice("workers", "managed", "--json")
	var ws struct{ Workers []map[string]any }
	if err := json.Unmarshal([]byte(r.out), &ws); err != nil || len(ws.Workers) == 0 {
		t.Errorf("workers --json: %q (%v)", r.out, err)
	}
	testutil.WaitFor(t, 20*time.Second, "the worker's log lines in sluice logs", func() bool {
		r = sluice("logs", "managed")
		return r.code == 0 && strings.TrimSpace(r.out) != ""
	})
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ `).MatchString(line) {
			t.Errorf("log line %q is not \"TIME WORKER ...\"", line)
		}
	}
	r = sluice("logs", "managed", "--json", "--tail", "1")
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.out)), &rec); err != nil || rec["line"] == nil {
		t.Errorf("logs --json --tail 1: %q (%v)", r.out, err)
	}
}
