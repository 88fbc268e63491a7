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
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
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

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parseEnvLines reads KEY='value' lines as printed by sluice worker-env.
func parseEnvLines(t *testing.T, s string) []string {
	t.Helper()
	var env []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			t.Fatalf("worker-env line %q is not KEY='value'", line)
		}
		env = append(env, k+"="+strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`))
	}
	return env
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a server")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator),
		"github.com/sluicehq/sluice/cmd/sluice",
		"github.com/sluicehq/sluice/examples/basic",
		"github.com/sluicehq/sluice/examples/streaming",
		"github.com/sluicehq/sluice/examples/progress")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sluiceBin := filepath.Join(bin, "sluice")
	dataDir := t.TempDir()

	server := startProc(t, "sluice serve", cleanEnv(), sluiceBin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--endpoint", "echo", "--endpoint", "words", "--endpoint", "prog", "--ping-interval", "1s")
	addrRE := regexp.MustCompile(`msg="sluice serving" addr=(http://127\.0\.0\.1:\d+)`)
	var base string
	waitFor(t, "sluice serve to listen", 60*time.Second, func() bool {
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

	// sluice runs a client command as a process and returns its exit code
	// and output.
	sluice := func(stdin string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sluiceBin, args...)
		cmd.Env = cleanEnv("SLUICE_URL=" + base)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("sluice %v: %v", args, err)
		}
		return result{code, out.String(), errOut.String()}
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
	if r.code != 0 || !strings.Contains(r.out, "status   COMPLETED") || !strings.Contains(r.out, `output   {"echo":{"message":"hi"}}`) {
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
	waitFor(t, "the long job to start", 30*time.Second, func() bool {
		r := sluice("", "status", "prog", cid)
		return r.code == exitJobPending && strings.Contains(r.out, "IN_PROGRESS")
	})
	r = sluice("", "cancel", "prog", cid)
	if r.code != 0 || !strings.Contains(r.out, "CANCELLED") {
		t.Errorf("cancel: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	sluice("", "wait", "prog", cid).check(t, 3, "", fmt.Sprintf("sluice: job %s CANCELLED\n", cid))

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
