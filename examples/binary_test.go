// Tests that build the example workers into real binaries and run them the
// way a user does: --test_input, ./test_input.json and --rp_serve_api.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// examples are the example packages, each a directory beside this file.
var examples = []string{"basic", "streaming", "concurrent", "errors", "progress", "refresh", "typed", "openai"}

// binDir holds the built example binaries.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	testutil.MainWith(m, func() (func(), error) {
		dir, err := os.MkdirTemp("", "sluice-examples-")
		if err != nil {
			return nil, err
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		binDir = dir
		args := []string{"build", "-o", dir + string(os.PathSeparator)}
		for _, e := range examples {
			args = append(args, "./"+e)
		}
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return cleanup, fmt.Errorf("build examples: %w", err)
		}
		return cleanup, nil
	})
}

// workerEnv is the environment for example binaries: the test's, without
// anything that would switch them to production mode.
func workerEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNPOD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runResult is what one run of an example binary did.
type runResult struct {
	code   int
	lines  []map[string]json.RawMessage // stderr lines that are JSON objects (chunks, progress)
	stdout string
	stderr string
}

// runExample runs an example binary in dir with args and waits for it.
func runExample(t *testing.T, name, dir string, env []string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Dir, cmd.Env = dir, env
	stdout, stderr, code, err := testutil.Run(cmd)
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	r := runResult{code: code, stdout: stdout, stderr: stderr}
	for line := range strings.Lines(r.stderr) {
		var obj map[string]json.RawMessage
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &obj) == nil {
			r.lines = append(r.lines, obj)
		}
	}
	return r
}

// final returns the job's result: stdout must be that one JSON line alone,
// as `worker --test_input ... | jq .status` needs.
func (r runResult) final(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var obj map[string]json.RawMessage
	if strings.Count(r.stdout, "\n") != 1 || json.Unmarshal([]byte(r.stdout), &obj) != nil || obj == nil {
		t.Fatalf("stdout is not one JSON result line:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return obj
}

func TestExampleBinariesWithTestInput(t *testing.T) {
	cases := []struct {
		example, input string
		env            []string
		code           int
		status         string
		output         string // wanted final output; "" to skip
		errorHas       string // wanted substring of the final error
		chunks         []string
	}{
		{"basic", `{"input": {"message": "hi"}}`, nil, 0, "COMPLETED", `{"echo":{"message":"hi"}}`, "", nil},
		{"streaming", `{"input": {"text": "a b c"}}`, nil, 0, "COMPLETED", `[]`, "", []string{`"a"`, `"b"`, `"c"`}},
		{"streaming", `{"input": {"text": "a b"}}`, []string{"STREAM_AGGREGATE=true"}, 0, "COMPLETED", `["a","b"]`, "", []string{`"a"`, `"b"`}},
		{"concurrent", `{"input": {"sleep_ms": 1}}`, nil, 0, "COMPLETED", "", "", nil},
		{"errors", `{"input": {"divide": 9, "by": 3}}`, nil, 0, "COMPLETED", `{"quotient":3}`, "", nil},
		{"errors", `{"input": {"divide": 9}}`, nil, 1, "FAILED", "", `input needs`, nil},
		{"errors", `{"input": {"divide": 9, "by": 0}}`, nil, 1, "FAILED", "", `division by zero`, nil},
		{"errors", `{"input": {"panic": true}}`, nil, 1, "FAILED", "", `asked to panic`, nil},
		{"progress", `{"input": {"steps": 2}}`, nil, 0, "COMPLETED", `{"done":2}`, "", nil},
		{"refresh", `{"input": {"dirty": true}}`, nil, 0, "COMPLETED", `{"cleaned":false}`, "", nil},
		{"typed", `{"input": {"op": "max", "numbers": [3, 9, 4]}}`, nil, 0, "COMPLETED", `{"op":"max","result":9}`, "", nil},
		{"typed", `{"input": {"op": "max", "numbers": "nine"}}`, nil, 1, "FAILED", "", `numbers`, nil},
	}
	for _, c := range cases {
		t.Run(c.example+" "+c.input, func(t *testing.T) {
			r := runExample(t, c.example, t.TempDir(), workerEnv(c.env...), "--test_input", c.input)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s", r.code, c.code, r.stdout)
			}
			final := r.final(t)
			if got := strings.Trim(string(final["status"]), `"`); got != c.status {
				t.Errorf("status %s, want %s", got, c.status)
			}
			if c.output != "" && string(final["output"]) != c.output {
				t.Errorf("output %s, want %s", final["output"], c.output)
			}
			if c.errorHas != "" && !strings.Contains(string(final["error"]), c.errorHas) {
				t.Errorf("error %s, want it to contain %q", final["error"], c.errorHas)
			}
			var chunks []string
			for _, l := range r.lines {
				var stream []struct{ Output json.RawMessage }
				if err := json.Unmarshal(l["stream"], &stream); err == nil {
					for _, s := range stream {
						chunks = append(chunks, string(s.Output))
					}
				}
			}
			if !slices.Equal(chunks, c.chunks) {
				t.Errorf("streamed %q, want %q", chunks, c.chunks)
			}
		})
	}
}

func TestExampleBinariesUseTestInputFile(t *testing.T) {
	for _, e := range examples {
		t.Run(e, func(t *testing.T) {
			r := runExample(t, e, e, workerEnv())
			if r.code != 0 || strings.Trim(string(r.final(t)["status"]), `"`) != "COMPLETED" {
				t.Errorf("%s with its test_input.json: exit %d\nstdout:\n%s", e, r.code, r.stdout)
			}
		})
	}
}

func TestExampleBinaryBadTestInput(t *testing.T) {
	cases := []struct {
		name, logHas string
		args         []string
	}{
		{"no file", "test_input.json not found", nil},
		{"invalid JSON", "is not a JSON object", []string{"--test_input", `{"input": `}},
		{"missing input", "Job has no input parameter", []string{"--test_input", `{"id": "x"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runExample(t, "basic", t.TempDir(), workerEnv(), c.args...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			all := r.stdout + r.stderr
			if !strings.Contains(all, c.logHas) {
				t.Errorf("output lacks %q:\n%s", c.logHas, all)
			}
			if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic") || len(r.lines) != 0 || r.stdout != "" {
				t.Errorf("want a one-line error, got:\n%s", all)
			}
		})
	}
}

// apiProcess is an example binary serving --rp_serve_api.
type apiProcess struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	out  *testutil.Buffer
	done chan error
}

var listenRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startAPI starts an example with --rp_serve_api on a free loopback port
// and waits until it says where it listens. It is stopped with SIGTERM when
// the test ends, and must then exit 0.
func startAPI(t *testing.T, name string, env []string, args ...string) *apiProcess {
	t.Helper()
	args = append([]string{"--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", "0"}, args...)
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Dir, cmd.Env = t.TempDir(), workerEnv(env...)
	pr, pw := io.Pipe()
	p := &apiProcess{cmd: cmd, out: &testutil.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = pw, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			_, _ = p.out.Write(append(sc.Bytes(), '\n'))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%s --rp_serve_api after SIGTERM: %v\n%s", name, err, p.out)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s --rp_serve_api did not stop within 30 s of SIGTERM (killed: %v)", name, <-p.done)
		}
	})
	select {
	case p.base = <-found:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited before listening: %v\n%s", name, err, p.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not report its address:\n%s", name, p.out)
	}
	return p
}

// TestExampleTestInputPipesToJq runs the documented one-liner: the result
// alone on stdout, so jq reads it.
func TestExampleTestInputPipesToJq(t *testing.T) {
	testutil.NeedBinary(t, "jq")
	testutil.NeedBinary(t, "bash")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c",
		`./streaming --test_input '{"input": {"text": "a b"}}' | jq -r .status`)
	cmd.Dir, cmd.Env = binDir, workerEnv()
	stdout, stderr, code, err := testutil.Run(cmd)
	if err != nil || code != 0 || stdout != "COMPLETED\n" {
		t.Errorf("worker | jq .status: exit %d (%v), stdout %q, stderr:\n%s", code, err, stdout, stderr)
	}
}
