package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// httpDo sends one request and returns the status code and body.
func httpDo(t *testing.T, client *http.Client, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer whatever")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, bytes.TrimSpace(data)
}

var (
	timesRE = regexp.MustCompile(`"(delayTime|executionTime)":\d+`)
	idRE    = regexp.MustCompile(`(sync-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-local`)
)

// normalize replaces the run-dependent ids and times of a wire body.
func normalize(s string) string {
	s = timesRE.ReplaceAllString(s, `"$1":<ms>`)
	return idRE.ReplaceAllStringFunc(s, func(id string) string {
		if strings.HasPrefix(id, "sync-") {
			return "<sync-id>"
		}
		return "<id>"
	})
}

// TestLocalAPIWire records the local endpoint's answers, as a client sees
// them, in a golden file: the streaming example with aggregation, served by
// its real binary.
func TestLocalAPIWire(t *testing.T) {
	p := startAPI(t, "streaming", []string{"STREAM_AGGREGATE=true"})
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var transcript bytes.Buffer
	step := func(method, path, body string) []byte {
		code, data := httpDo(t, client, method, p.base+path, body)
		fmt.Fprintf(&transcript, "%s %s %s\n-> %d %s\n\n", method, normalize(path), body, code, normalize(string(data)))
		return data
	}
	var run struct{ ID string }
	if err := json.Unmarshal(step("POST", "/v2/local/run", `{"input":{"text":"a b c"}}`), &run); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, data := httpDo(t, client, "GET", p.base+"/v2/local/status/"+run.ID, "")
		if bytes.Contains(data, []byte(`"COMPLETED"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not completed: %s", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
	step("GET", "/v2/local/status/"+run.ID, "")
	step("GET", "/v2/local/stream/"+run.ID, "")
	step("GET", "/v2/local/stream/"+run.ID, "")
	step("POST", "/v2/local/cancel/"+run.ID, "")
	step("POST", "/runsync", `{"input":{"text":"x y"}}`)
	step("GET", "/health", "")
	step("POST", "/v2/local/purge-queue", "")
	step("POST", "/run", `{"inptu":{}}`)
	step("POST", "/run", `{"input":{},"webhook":"not a url"}`)
	step("GET", "/status/no-such-job", "")
	testutil.Golden(t, "localapi_wire", transcript.Bytes())
}

// TestRunpodPythonClient drives an example's local endpoint with the real
// runpod-python client (runpod.Endpoint), pointed at it through
// RUNPOD_ENDPOINT_BASE_URL.
func TestRunpodPythonClient(t *testing.T) {
	venv := os.Getenv("SLUICE_VENV")
	if venv == "" {
		venv, _ = filepath.Abs(filepath.Join("..", ".venv"))
	}
	python := filepath.Join(venv, "bin", "python")
	if err := exec.Command(python, "-c", "import runpod").Run(); err != nil {
		t.Skipf("runpod-python is not installed in %s (%v); run scripts/test.sh to install it", venv, err)
	}
	p := startAPI(t, "streaming", []string{"STREAM_AGGREGATE=true"})
	script := `
import json, runpod
runpod.api_key = "any-local-key"
ep = runpod.Endpoint("local")
out = {}
out["run_sync"] = ep.run_sync({"input": {"text": "hello sync world"}}, timeout=60)
job = ep.run({"text": "one two three"})
out["stream"] = list(job.stream())
out["status"] = job.status()
out["output"] = job.output(timeout=30)
out["health"] = ep.health()
slow = ep.run({"text": "a b c d e f g h", "delay_ms": 3000})
out["cancel"] = slow.cancel()["status"]
out["cancelled_status"] = slow.status()
print(json.dumps(out))
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", script)
	cmd.Env = append(workerEnv(), "RUNPOD_ENDPOINT_BASE_URL="+p.base+"/v2", "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("runpod-python client: %v\nstderr:\n%s\nserver:\n%s", err, stderr.String(), p.out)
	}
	var got struct {
		RunSync         []string `json:"run_sync"`
		Stream          []string `json:"stream"`
		Status          string   `json:"status"`
		Output          []string `json:"output"`
		Health          struct{ Jobs map[string]int }
		Cancel          string `json:"cancel"`
		CancelledStatus string `json:"cancelled_status"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("client printed %s: %v", data, err)
	}
	if fmt.Sprint(got.RunSync) != "[hello sync world]" {
		t.Errorf("run_sync returned %q", got.RunSync)
	}
	if fmt.Sprint(got.Stream) != "[one two three]" {
		t.Errorf("Job.stream() yielded %q, want each word once, in order", got.Stream)
	}
	if got.Status != "COMPLETED" || fmt.Sprint(got.Output) != "[one two three]" {
		t.Errorf("Job.status() %q, Job.output() %q", got.Status, got.Output)
	}
	if got.Health.Jobs["completed"] < 2 {
		t.Errorf("health %+v, want at least 2 completed jobs", got.Health)
	}
	if got.Cancel != "CANCELLED" || got.CancelledStatus != "CANCELLED" {
		t.Errorf("cancel answered %q, then status %q; want CANCELLED", got.Cancel, got.CancelledStatus)
	}
}

// TestLocalAPIProgressBinary watches the progress example's updates in
// /status while its job runs, then its final output.
func TestLocalAPIProgressBinary(t *testing.T) {
	p := startAPI(t, "progress", nil)
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	_, data := httpDo(t, client, "POST", p.base+"/v2/local/run", `{"input":{"steps":3,"step_ms":200}}`)
	var run struct{ ID, Status string }
	if err := json.Unmarshal(data, &run); err != nil || run.Status != "IN_QUEUE" {
		t.Fatalf("/run answered %s (%v)", data, err)
	}
	var st struct {
		Status string
		Output json.RawMessage
	}
	var seen []string
	deadline := time.Now().Add(20 * time.Second)
	for st.Status != "COMPLETED" {
		if time.Now().After(deadline) {
			t.Fatalf("job not completed; last status %s %s", st.Status, st.Output)
		}
		_, data := httpDo(t, client, "GET", p.base+"/v2/local/status/"+run.ID, "")
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Status == "IN_PROGRESS" && st.Output != nil && (len(seen) == 0 || seen[len(seen)-1] != string(st.Output)) {
			seen = append(seen, string(st.Output))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(seen) == 0 || !strings.Contains(seen[0], `"step":`) {
		t.Errorf("progress seen in /status: %q, want step updates", seen)
	}
	if string(st.Output) != `{"done":3}` {
		t.Errorf("final output %s", st.Output)
	}
}
