package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestConfigFile serves a sluice.yaml: client keys from apiKeys, a managed
// endpoint whose workers the server starts itself (cold start on the first
// job), an unmanaged endpoint with its own workerKey, and the Sluice
// extensions (endpoints, workers, logs).
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf(`apiKeys: [cfg-client-key]
pingIntervalMs: 1000
endpoints:
  - id: managed
    command: [%q]
    workersMax: 1
    idleTimeout: 60
  - id: ext
    workerKey: cfg-worker-key-ext
`, bins.worker)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg)
	const key = "Bearer cfg-client-key"

	r := s.do(t, "POST", "/v2/managed/runsync?wait=60000", key, []byte(`{"input":{"echo":"cold"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" {
		t.Fatalf("runsync on a managed endpoint: %d %s", r.code, r.body)
	}
	if r = s.do(t, "POST", "/v2/managed/run", "Bearer wrong", []byte(`{"input":{}}`)); r.code != 401 {
		t.Errorf("wrong key: %d", r.code)
	}

	// The supervisor's view of the worker reaches /health within a few ticks.
	testutil.WaitFor(t, 20*time.Second, "the managed worker to show as idle in /health", func() bool {
		w := s.do(t, "GET", "/v2/managed/health", key, nil).json(t)["workers"].(map[string]any)
		return w["idle"].(float64)+w["running"].(float64) >= 1
	})
	r = s.do(t, "GET", "/v2/endpoints", key, nil)
	var ids []string
	for _, e := range r.json(t)["endpoints"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	if r.code != 200 || !slices.Equal(ids, []string{"managed", "ext"}) {
		t.Errorf("GET /v2/endpoints: %d %s", r.code, r.body)
	}
	r = s.do(t, "GET", "/v2/managed/workers", key, nil)
	if ws, _ := r.json(t)["workers"].([]any); r.code != 200 || len(ws) != 1 {
		t.Errorf("GET /v2/managed/workers: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 20*time.Second, "worker log lines", func() bool {
		r := s.do(t, "GET", "/v2/managed/logs", key, nil)
		return r.code == 200 && strings.Contains(string(r.body), "lines")
	})

	// The unmanaged endpoint's key is the config's, as worker-env prints it.
	env := s.workerEnv(t, "ext", "x", "--config", cfg)
	if !slices.Contains(env, "RUNPOD_AI_API_KEY=cfg-worker-key-ext") || !slices.Contains(env, "RUNPOD_PING_INTERVAL=1000") {
		t.Errorf("worker-env ext: %v", env)
	}
	s.startWorker(t, "ext", "ext-1", nil, "--config", cfg)
	r = s.do(t, "POST", "/v2/ext/runsync?wait=60000", key, []byte(`{"input":{"echo":"ext"}}`))
	if m := r.json(t); m["status"] != "COMPLETED" || m["output"].(map[string]any)["worker"] != "ext-1" {
		t.Errorf("runsync on ext: %s", r.body)
	}
}
