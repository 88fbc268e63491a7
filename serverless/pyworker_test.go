package serverless

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// pyWorkerScript runs runpod-python's real worker for one scenario.
const pyWorkerScript = `
import os, runpod
scenario = os.environ["SCENARIO"]
def plain(job):
    return {"echo": job["input"], "id": job["id"]}
def error_refresh(job):
    return {"error": "bad", "refresh_worker": True, "kept": 1}
def gen(job):
    yield "a"
    yield {"b": 1}
configs = {
    "plain": {"handler": plain},
    "error_refresh": {"handler": error_refresh},
    "stream": {"handler": gen, "return_aggregate_stream": True},
    "batch": {"handler": plain, "concurrency_modifier": lambda current: 2},
}
runpod.serverless.start(configs[scenario])
`

// wireScenario is one handler written in Go and in Python (pyWorkerScript).
type wireScenario struct {
	name string
	cfg  Config
	jobs []string
}

var wireScenarios = []wireScenario{
	{name: "plain", jobs: []string{`{"id":"p1","input":{"n":1}}`},
		cfg: Config{Handler: func(ctx context.Context, job *Job) (any, error) {
			var in any
			if err := json.Unmarshal(job.Input, &in); err != nil {
				return nil, err
			}
			return map[string]any{"echo": in, "id": job.ID}, nil
		}}},
	{name: "error_refresh", jobs: []string{`{"id":"e1","input":null}`},
		cfg: Config{Handler: func(ctx context.Context, job *Job) (any, error) {
			return map[string]any{"error": "bad", "refresh_worker": true, "kept": 1}, nil
		}}},
	{name: "stream", jobs: []string{`{"id":"s1","input":{}}`},
		cfg: Config{ReturnAggregateStream: true, StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
			return func(yield func(any, error) bool) {
				_ = yield("a", nil) && yield(map[string]any{"b": 1}, nil)
			}
		}}},
	{name: "batch", jobs: []string{`{"id":"b1","input":1}`, `{"id":"b2","input":2}`},
		cfg: Config{ConcurrencyModifier: func(int) int { return 2 }, Handler: func(ctx context.Context, job *Job) (any, error) {
			var in any
			if err := json.Unmarshal(job.Input, &in); err != nil {
				return nil, err
			}
			return map[string]any{"echo": in, "id": job.ID}, nil
		}}},
}

// wireView is what must match between the two workers: the first take,
// and every done/stream post with its JSON body decoded and the headers
// the platform reads.
type wireView struct {
	FirstTake string
	Posts     []string
}

func viewOf(t *testing.T, fp *fakePlatform) wireView {
	t.Helper()
	var v wireView
	takes := fp.requests("take", "take-batch")
	if len(takes) > 0 {
		v.FirstTake = takes[0].Path + "?" + takes[0].RawQuery
	}
	for _, r := range fp.requests("done", "stream") {
		var body any
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Errorf("body of %s is not JSON: %v", r, err)
		}
		v.Posts = append(v.Posts, fmt.Sprintf("%s %s?%s %s | Authorization=%s Content-Type=%s charset=%s X-Request-ID=%s",
			r.Method, r.Path, r.RawQuery, mustMarshal(t, body), r.Header.Get("Authorization"),
			r.Header.Get("Content-Type"), r.Header.Get("charset"), r.Header.Get("X-Request-ID")))
	}
	return v
}

// TestWorkerWireMatchesRunpodPython runs runpod-python's worker and the Go
// worker against the same fake platform and compares what they send.
func TestWorkerWireMatchesRunpodPython(t *testing.T) {
	py := runpodPython(t)
	for _, sc := range wireScenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := runPythonWorker(t, py, sc)
			t.Logf("runpod-python: first take %s\n%s", want.FirstTake, lines(want.Posts))
			fp := newFakePlatform(t)
			w := startWorker(t, fp, sc.cfg)
			for _, j := range sc.jobs {
				fp.jobs <- j
			}
			fp.waitFor(t, "the Go worker's posts", func(reqs []fpRequest) bool {
				return len(fp.requests("done", "stream")) >= len(want.Posts)
			})
			w.cancel()
			w.wait(t)
			got := viewOf(t, fp)
			if got.FirstTake != want.FirstTake {
				t.Errorf("first take: Go %s, runpod-python %s", got.FirstTake, want.FirstTake)
			}
			if !reflect.DeepEqual(sortedIfBatch(sc, got.Posts), sortedIfBatch(sc, want.Posts)) {
				t.Errorf("posts differ\nGo:\n%s\nrunpod-python:\n%s", lines(got.Posts), lines(want.Posts))
			}
		})
	}
}

func sortedIfBatch(sc wireScenario, posts []string) []string {
	out := append([]string(nil), posts...)
	if sc.name == "batch" { // concurrent jobs finish in any order
		slices.Sort(out)
	}
	return out
}

func lines(s []string) string {
	out := ""
	for _, l := range s {
		out += l + "\n"
	}
	return out
}

// runPythonWorker runs runpod-python's worker on the scenario's jobs until
// every job has its final post, then stops it with SIGTERM.
func runPythonWorker(t *testing.T, py string, sc wireScenario) wireView {
	t.Helper()
	fp := newFakePlatform(t)
	fp.setEnv(t)
	script := filepath.Join(t.TempDir(), "worker.py")
	if err := os.WriteFile(script, []byte(pyWorkerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	cmd.Env = append(os.Environ(), "SCENARIO="+sc.name, "RUNPOD_PING_INTERVAL=1000",
		"RUNPOD_SKIP_AUTO_SYSTEM_CHECKS=true", "RUNPOD_SKIP_GPU_CHECK=true", "RUNPOD_LOG_LEVEL=ERROR")
	var out testutil.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("runpod-python worker exited: %v", err)
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			t.Errorf("runpod-python worker ignored SIGTERM (killed: %v)", <-exited)
		}
		if t.Failed() {
			t.Logf("runpod-python output:\n%s", out.String())
		}
	}()
	for _, j := range sc.jobs {
		fp.jobs <- j
	}
	// Importing runpod is slow on a busy machine.
	fp.waitForWithin(t, 2*time.Minute, "runpod-python's results", func(reqs []fpRequest) bool {
		return len(fp.requests("done")) >= len(sc.jobs)
	})
	return viewOf(t, fp)
}
