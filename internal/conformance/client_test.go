package conformance

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestPythonClient runs runpod-python's Endpoint, Job and AsyncioEndpoint
// against `sluice serve`, unmodified, with RUNPOD_ENDPOINT_BASE_URL pointing
// at it (testdata/client.py), and checks what every call returned.
func TestPythonClient(t *testing.T) {
	needVenv(t)
	p := startPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.python, filepath.Join("testdata", "client.py"), apiKey)
	cmd.Env = append(os.Environ(), "RUNPOD_ENDPOINT_BASE_URL="+p.url+"/v2")
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("client.py: %v\nstderr:\n%s", err, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("client.py printed %q: %v", stdout, err)
	}
	eq := func(key string, v any, want string) {
		t.Helper()
		if s := mustJSON(t, v); s != want {
			t.Errorf("%s = %s, want %s", key, s, want)
		}
	}
	if id, _ := got["run_id"].(string); !uuidLike(id) {
		t.Errorf("run_id = %q, want a job id", got["run_id"])
	}
	eq("Job.output()", got["run_output"], `{"echo":"hi"}`)
	eq("Job.status()", got["run_status"], `"COMPLETED"`)
	eq("Endpoint.run_sync()", got["run_sync"], `{"echo":"sync"}`)
	eq("Endpoint.run({input, policy})", got["run_explicit_input"], `{"echo":"wrapped"}`)
	eq("Job.stream()", got["stream"], `[{"chunk":0},{"chunk":1},{"chunk":2}]`)
	cancelled, _ := got["cancel"].(map[string]any)
	eq("Job.cancel() status", cancelled["status"], `"CANCELLED"`)
	eq("job after a cancel", got["cancel_status"], `[{"chunk":0}]`)
	eq("Job.status() of a job waiting on a worker-less endpoint", got["parked_status"], `"IN_QUEUE"`)
	health, _ := got["health_parked"].(map[string]any)
	jobs, _ := health["jobs"].(map[string]any)
	eq("Endpoint.health() jobs.inQueue on a worker-less endpoint", jobs["inQueue"], `2`)
	workers, _ := health["workers"].(map[string]any)
	for _, k := range []string{"idle", "initializing", "ready", "running", "throttled", "unhealthy"} {
		if _, ok := workers[k]; !ok {
			t.Errorf("health workers lack %q: %v", k, workers)
		}
	}
	eq("Endpoint.purge_queue()", got["purge"], `{"removed":2,"status":"completed"}`)
	echoHealth, _ := got["health_echo"].(map[string]any)
	echoJobs, _ := echoHealth["jobs"].(map[string]any)
	if n, _ := echoJobs["completed"].(float64); n < 3 {
		t.Errorf("go-echo health counts %v completed jobs, want at least 3: %v", echoJobs["completed"], echoHealth)
	}

	a, _ := got["asyncio"].(map[string]any)
	if s, _ := a["status_first"].(string); s == "" {
		t.Errorf("AsyncioJob.status() = %v", a["status_first"])
	}
	eq("AsyncioJob.output()", a["output"], `{"echo":"async"}`)
	eq("AsyncioJob.status()", a["status"], `"COMPLETED"`)
	eq("AsyncioJob.stream()", a["stream"], `[{"chunk":0},{"chunk":1}]`)
	ac, _ := a["cancel"].(map[string]any)
	eq("AsyncioJob.cancel() status", ac["status"], `"CANCELLED"`)
	ah, _ := a["health"].(map[string]any)
	ajobs, _ := ah["jobs"].(map[string]any)
	eq("AsyncioEndpoint.health() jobs.inQueue", ajobs["inQueue"], `1`)
	eq("AsyncioEndpoint.purge_queue()", a["purge"], `{"removed":1,"status":"completed"}`)
}

func uuidLike(s string) bool {
	return len(s) >= 36
}
