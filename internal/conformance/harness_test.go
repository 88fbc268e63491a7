// Package conformance checks Sluice against the real runpod-python 1.12.0
// package: Python workers started unmodified by Sluice's supervisor give the
// same client-visible results as their Go SDK twins, and runpod-python's
// client (Endpoint, Job, AsyncioEndpoint) works against `sluice serve`.
//
// The tests need a virtualenv with runpod==1.12.0, found at $SLUICE_VENV
// (scripts/test.sh creates it) or at the repository's .venv. Without one they
// are skipped, except under CI, where a missing venv fails them.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// apiKey is the client API key the conformance server is configured with.
const apiKey = "conformance-key"

// bins are built once by TestMain.
var bins struct{ sluice, goworker, python, repo string }

var skipReason string

func TestMain(m *testing.M) {
	testutil.MainWith(m, func() (func(), error) {
		dir, err := os.MkdirTemp("", "sluice-conformance-")
		if err != nil {
			return nil, err
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		repo, err := filepath.Abs("../..")
		if err != nil {
			return cleanup, err
		}
		bins.repo = repo
		venv := os.Getenv("SLUICE_VENV")
		if venv == "" {
			venv = filepath.Join(repo, ".venv")
		}
		bins.python = filepath.Join(venv, "bin", "python")
		check := exec.Command(bins.python, "-c", "import runpod, sys; sys.exit(runpod.__version__ != '1.12.0')")
		if out, err := check.CombinedOutput(); err != nil {
			skipReason = fmt.Sprintf("no runpod==1.12.0 virtualenv at %s (run scripts/test.sh to create it): %v %s", venv, err, out)
			if os.Getenv("CI") != "" || os.Getenv("SLUICE_VENV") != "" {
				return cleanup, errors.New("conformance: " + skipReason)
			}
		}
		const sluicePkg, workerPkg = "github.com/sluicehq/sluice/cmd/sluice", "github.com/sluicehq/sluice/internal/conformance/testdata/goworker"
		built, err := testutil.BuildBinaries(dir, sluicePkg, workerPkg)
		if err != nil {
			return cleanup, err
		}
		bins.sluice, bins.goworker = built[sluicePkg], built[workerPkg]
		return cleanup, nil
	})
}

func needVenv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// platform is one running `sluice serve` with the conformance endpoints.
type platform struct {
	url string
	log *testutil.Buffer
}

// endpointsYAML declares a Python endpoint and its Go twin for each worker
// kind. Both run with at most one worker, so worker replacement is visible.
func endpointsYAML() string {
	py := func(script string) string {
		return fmt.Sprintf("[%q, %q]", bins.python, filepath.Join(bins.repo, "examples", "python", script))
	}
	goW := fmt.Sprintf("[%q]", bins.goworker)
	var b strings.Builder
	fmt.Fprintf(&b, "apiKeys: [%s]\npingIntervalMs: 1000\nendpoints:\n  - id: parked # no command: its workers would come from elsewhere\n", apiKey)
	add := func(id, command string, env map[string]string) {
		fmt.Fprintf(&b, "  - id: %s\n    command: %s\n    workersMax: 1\n    idleTimeout: 60\n    env:\n", id, command)
		env["PYTHONUNBUFFERED"] = "1"
		for k, v := range env {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
	}
	add("py-echo", py("echo_worker.py"), map[string]string{})
	add("go-echo", goW, map[string]string{"WORKER_KIND": "echo"})
	add("py-stream", py("stream_worker.py"), map[string]string{})
	add("go-stream", goW, map[string]string{"WORKER_KIND": "stream"})
	add("py-stream-agg", py("stream_worker.py"), map[string]string{"AGGREGATE": "1"})
	add("go-stream-agg", goW, map[string]string{"WORKER_KIND": "stream", "AGGREGATE": "1"})
	add("py-async", py("async_worker.py"), map[string]string{"CONCURRENCY": "4"})
	add("go-async", goW, map[string]string{"WORKER_KIND": "async", "CONCURRENCY": "4"})
	return b.String()
}

// startPlatform runs `sluice serve` with the conformance endpoints and waits
// until it answers. It is stopped (SIGTERM, then waited for) at cleanup.
func startPlatform(t *testing.T) *platform {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(endpointsYAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &platform{url: "http://" + addr}
	p.log = testutil.StartServe(t, bins.sluice, "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--config", cfg)
	testutil.WaitFor(t, 30*time.Second, "sluice serve answers /health", func() bool {
		req, err := http.NewRequest(http.MethodGet, p.url+"/v2/go-echo/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// call sends one client API request and decodes the JSON answer.
func (p *platform) call(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: bad JSON %q: %v", method, path, data, err)
	}
	return out
}

func terminal(status any) bool {
	switch status {
	case "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT":
		return true
	}
	return false
}

// run submits input with /run and returns the job id.
func (p *platform) run(t *testing.T, ep string, input any) string {
	t.Helper()
	out := p.call(t, http.MethodPost, "/v2/"+ep+"/run", map[string]any{"input": input})
	id, _ := out["id"].(string)
	if id == "" || out["status"] != "IN_QUEUE" {
		t.Fatalf("/run answered %v, want an id and IN_QUEUE", out)
	}
	return id
}

// wait polls /status-sync until the job is terminal.
func (p *platform) wait(t *testing.T, ep, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := p.call(t, http.MethodGet, "/v2/"+ep+"/status-sync/"+id+"?wait=5000", nil)
		if terminal(st["status"]) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s on %s not terminal after 90s: %v", id, ep, st)
		}
	}
}

// streamAll reads /stream until the job is terminal and the stream drained,
// and returns the chunks' outputs in order and the final status.
func (p *platform) streamAll(t *testing.T, ep, id string) ([]any, string) {
	t.Helper()
	var chunks []any
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := p.call(t, http.MethodGet, "/v2/"+ep+"/stream/"+id+"?wait=2000", nil)
		list, ok := st["stream"].([]any)
		if !ok {
			t.Fatalf("/stream answer has no stream list: %v", st)
		}
		for _, c := range list {
			m, _ := c.(map[string]any)
			chunks = append(chunks, m["output"])
		}
		if terminal(st["status"]) && len(list) == 0 {
			return chunks, st["status"].(string)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream of %s on %s not finished after 90s: %v", id, ep, st)
		}
	}
}

// mustJSON renders v canonically for comparisons in failure messages.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
