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

// TestJSClient runs Runpod's JavaScript client (npm runpod-sdk 1.1.2,
// installed in .node/ by scripts/deps.sh), unmodified, against `sluice
// serve`: runSync, run and status, stream, and on a worker-less endpoint a
// queued job's status (which carries Sluice's "waiting" object), health,
// purgeQueue and cancel.
func TestJSClient(t *testing.T) {
	node := testutil.NeedBinary(t, "node")
	sdk := filepath.Join(bins.repo, ".node", "node_modules", "runpod-sdk", "dist", "src", "index.js")
	if _, err := os.Stat(sdk); err != nil {
		if testutil.InCI() {
			t.Fatalf("runpod-sdk not installed (scripts/deps.sh installs it): %v", err)
		}
		t.Skipf("runpod-sdk not installed at %s (run scripts/test.sh)", sdk)
	}
	p := startPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "client.mjs"), sdk, p.url+"/v2", apiKey)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("client.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		RunSync      map[string]any `json:"runSync"`
		RunID        string         `json:"runId"`
		Status       map[string]any `json:"status"`
		Stream       []any          `json:"stream"`
		ParkedStatus map[string]any `json:"parkedStatus"`
		Health       map[string]any `json:"health"`
		Purge        map[string]any `json:"purge"`
		Cancelled    map[string]any `json:"cancelled"`
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("client.mjs printed %q: %v", stdout, err)
	}
	eq := func(what string, v any, want string) {
		t.Helper()
		if s := mustJSON(t, v); s != want {
			t.Errorf("%s = %s, want %s", what, s, want)
		}
	}
	eq("runSync().status", got.RunSync["status"], `"COMPLETED"`)
	eq("runSync().output", got.RunSync["output"], `{"echo":"sync"}`)
	if !uuidLike(got.RunID) {
		t.Errorf("run().id = %q, want a job id", got.RunID)
	}
	eq("status().status", got.Status["status"], `"COMPLETED"`)
	eq("status().output", got.Status["output"], `{"echo":"run"}`)
	eq("status().completed", got.Status["completed"], `true`)
	eq("stream()", got.Stream, `[{"chunk":0},{"chunk":1},{"chunk":2}]`)
	eq("status() of a queued job", got.ParkedStatus["status"], `"IN_QUEUE"`)
	eq("status().started of a queued job", got.ParkedStatus["started"], `true`)
	waiting, _ := got.ParkedStatus["waiting"].(map[string]any)
	eq("status().waiting.reason of a queued job", waiting["reason"], `"NO_WORKERS"`)
	jobs, _ := got.Health["jobs"].(map[string]any)
	eq("health().jobs.inQueue", jobs["inQueue"], `1`)
	eq("purgeQueue()", got.Purge, `{"removed":1,"status":"completed"}`)
	eq("cancel().status", got.Cancelled["status"], `"CANCELLED"`)
}
