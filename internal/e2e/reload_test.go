package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// reloadConfig writes the config file of the reload tests.
func reloadConfig(t *testing.T, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveConfig writes yaml as the config file of a new server (data in a
// temporary directory), starts it with env and returns it and the file's path.
func serveConfig(t *testing.T, yaml string, env []string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	reloadConfig(t, cfg, yaml)
	return startServer(t, "", filepath.Join(dir, "data"), env, "--config", cfg), cfg
}

// countIn counts the occurrences of sub in the server's log.
func (s *server) countIn(sub string) int { return strings.Count(s.log.String(), sub) }

// hup sends SIGHUP and waits for the reload's log line (reloaded or refused).
func (s *server) hup(t *testing.T) {
	t.Helper()
	before := s.countIn("msg=\"config reload")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the reload's log line", func() bool { return s.countIn("msg=\"config reload") > before })
}

// runAuthed posts /run with auth and returns the job id.
func (s *server) runAuthed(t *testing.T, auth, ep, input string) string {
	t.Helper()
	r := s.do(t, "POST", "/v2/"+ep+"/run", auth, []byte(`{"input":`+input+`}`))
	id, _ := r.json(t)["id"].(string)
	if r.code != 200 || id == "" {
		t.Fatalf("run on %s: %d %s", ep, r.code, r.body)
	}
	return id
}

// TestReloadSIGHUP: a running server re-reads its config on SIGHUP. A job
// running through the reload completes; a new endpoint serves (404 before,
// 200 after); a new client key opens the API while SLUICE_API_KEYS still
// does; a changed endpoint shows its new settings. An invalid file is
// refused with its file:line message in the log and the old config keeps
// serving.
func TestReloadSIGHUP(t *testing.T) {
	s, cfg := serveConfig(t, fmt.Sprintf(`apiKeys: [key-one]
pingIntervalMs: 1000
endpoints:
  - id: a
    command: [%q]
    workersMax: 1
    idleTimeout: 60
`, bins.worker), []string{"SLUICE_API_KEYS=env-key"})
	const one, two, env = "Bearer key-one", "Bearer key-two", "Bearer env-key"

	started := filepath.Join(t.TempDir(), "long-started")
	long := s.runAuthed(t, one, "a", fmt.Sprintf(`{"sleep_ms": 6000, "echo": "long", "started": %q}`, started))
	testutil.WaitFor(t, 60*time.Second, "the long job to start", func() bool { _, err := os.Stat(started); return err == nil })
	if r := s.do(t, "POST", "/v2/b/run", one, []byte(`{"input":{}}`)); r.code != 404 {
		t.Fatalf("run on b before the reload: %d %s, want 404", r.code, r.body)
	}
	if r := s.do(t, "GET", "/v2/a/health", two, nil); r.code != 401 {
		t.Fatalf("key-two before the reload: %d %s, want 401", r.code, r.body)
	}

	reloadConfig(t, cfg, fmt.Sprintf(`apiKeys: [key-one, key-two]
pingIntervalMs: 1000
endpoints:
  - id: a
    command: [%q]
    env: {RELOADED: "yes"}
    workersMax: 2
    idleTimeout: 60
  - id: b
    command: [%q]
    workersMax: 1
    idleTimeout: 60
`, bins.worker, bins.worker))
	s.hup(t)
	log := s.log.String()
	for _, want := range []string{
		"config reloaded", "endpoint b added (managed, workersMin 0, workersMax 1)",
		"endpoint a changed: env, workersMax (its workers are replaced, each once it holds no job)", "apiKeys: 1 added, 0 removed",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the reload's log line lacks %q", want)
		}
	}
	if strings.Contains(log, "key-two") {
		t.Error("the log shows a key's value")
	}

	r := s.do(t, "POST", "/v2/b/runsync?wait=60000", two, []byte(`{"input":{"echo":"new endpoint"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" {
		t.Fatalf("runsync on the new endpoint b with the new key: %d %s", r.code, r.body)
	}
	if r := s.do(t, "GET", "/v2/a/health", env, nil); r.code != 200 {
		t.Errorf("SLUICE_API_KEYS after the reload: %d %s", r.code, r.body)
	}
	done := s.waitStatus(t, one, "a", long, 60*time.Second, "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
	if done["status"] != "COMPLETED" || done["output"].(map[string]any)["echo"] != "long" {
		t.Fatalf("the job running through the reload: %v", done)
	}
	r = s.do(t, "GET", "/v2/endpoints", one, nil)
	var eps struct {
		Endpoints []struct {
			ID         string `json:"id"`
			WorkersMax int    `json:"workersMax"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(r.body, &eps); err != nil || len(eps.Endpoints) != 2 || eps.Endpoints[0].WorkersMax != 2 || eps.Endpoints[1].ID != "b" {
		t.Errorf("GET /v2/endpoints after the reload: %d %s", r.code, r.body)
	}
	// The changed endpoint still runs jobs (on a worker with the new env).
	r = s.do(t, "POST", "/v2/a/runsync?wait=60000", two, []byte(`{"input":{"echo":"after"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" {
		t.Fatalf("runsync on a after the reload: %d %s", r.code, r.body)
	}

	// An invalid file: refused, with the file and line, and nothing changes.
	reloadConfig(t, cfg, `apiKeys: [key-one]
endpoints:
  - id: a
    workersMaxx: 2
`)
	s.hup(t)
	if want := cfg + ":4: endpoints[0].workersMaxx"; !strings.Contains(s.log.String(), want) {
		t.Errorf("the log lacks the refused file's %q", want)
	}
	if !strings.Contains(s.log.String(), "config reload refused; the running config stays") {
		t.Error("the log does not say the reload was refused")
	}
	r = s.do(t, "POST", "/v2/b/runsync?wait=60000", two, []byte(`{"input":{"echo":"still"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" {
		t.Fatalf("runsync on b with key-two after a refused reload: %d %s", r.code, r.body)
	}
}

// TestReloadAdminRoute: POST /v2/admin/reload does what SIGHUP does and
// answers the changes, takes only a key that opens every endpoint, and
// answers an invalid file 400 naming its line. A removed endpoint takes no
// new job (404) but its finished jobs stay readable by id.
func TestReloadAdminRoute(t *testing.T) {
	s, cfg := serveConfig(t, fmt.Sprintf(`apiKeys: [admin-key]
pingIntervalMs: 1000
endpoints:
  - id: a
    command: [%q]
    workersMax: 1
    idleTimeout: 60
    apiKeys: [a-only]
`, bins.worker), []string{"SLUICE_API_KEYS="})
	const admin = "Bearer admin-key"

	r := s.do(t, "POST", "/v2/a/runsync?wait=60000", admin, []byte(`{"input":{"echo":"before"}}`))
	first, _ := r.json(t)["id"].(string)
	if r.code != 200 || first == "" {
		t.Fatalf("runsync on a: %d %s", r.code, r.body)
	}
	started := filepath.Join(t.TempDir(), "long-started")
	long := s.runAuthed(t, admin, "a", fmt.Sprintf(`{"sleep_ms": 5000, "echo": "long", "started": %q}`, started))
	testutil.WaitFor(t, 60*time.Second, "the long job to start", func() bool { _, err := os.Stat(started); return err == nil })

	reloadConfig(t, cfg, `apiKeys: [admin-key]
endpoints:
  - id: c
`)
	for _, c := range []struct{ auth, what string }{{"", "no key"}, {"Bearer a-only", "a per-endpoint key"}, {"Bearer nope", "a wrong key"}} {
		if r := s.do(t, "POST", "/v2/admin/reload", c.auth, nil); r.code != 401 {
			t.Errorf("reload with %s: %d %s, want 401", c.what, r.code, r.body)
		}
	}
	if r := s.do(t, "POST", "/v2/c/run", admin, []byte(`{"input":{}}`)); r.code != 404 {
		t.Fatalf("run on c before the reload: %d %s, want 404", r.code, r.body)
	}
	r = s.do(t, "POST", "/v2/admin/reload", admin, nil)
	var out struct {
		Reloaded bool     `json:"reloaded"`
		Changes  []string `json:"changes"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || r.code != 200 || !out.Reloaded {
		t.Fatalf("POST /v2/admin/reload: %d %s", r.code, r.body)
	}
	want := []string{
		"endpoint c added (unmanaged: its workers connect with `sluice worker-env c`)",
		"endpoint a removed (it accepts no new jobs; its workers drain; its jobs stay readable by id)",
		"pingIntervalMs changed, but applies only after a restart",
	}
	if !slices.Equal(out.Changes, want) {
		t.Errorf("changes = %q\nwant %q", out.Changes, want)
	}

	// The removed endpoint: no new job, but its jobs stay readable and the
	// job it was running completes.
	if r := s.do(t, "POST", "/v2/a/run", admin, []byte(`{"input":{}}`)); r.code != 404 || !strings.Contains(string(r.body), "removed from the config") {
		t.Errorf("run on the removed endpoint: %d %s, want 404", r.code, r.body)
	}
	if r := s.do(t, "GET", "/v2/a/status/"+first, "Bearer a-only", nil); r.code != 200 || r.json(t)["status"] != "COMPLETED" {
		t.Errorf("status of a finished job of the removed endpoint: %d %s", r.code, r.body)
	}
	if r := s.do(t, "POST", "/v2/a/retry/"+first, admin, nil); r.code != 404 {
		t.Errorf("retry on the removed endpoint: %d %s, want 404", r.code, r.body)
	}
	done := s.waitStatus(t, admin, "a", long, 60*time.Second, "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
	if done["status"] != "COMPLETED" {
		t.Fatalf("the job running on the removed endpoint: %v", done)
	}
	testutil.WaitFor(t, 30*time.Second, "the removed endpoint's worker to stop", func() bool {
		return s.countIn(`reason="endpoint removed"`) > 0
	})

	// The new (unmanaged) endpoint serves with an outside worker.
	s.startWorker(t, "c", "c-1", nil, "--config", cfg)
	r = s.do(t, "POST", "/v2/c/runsync?wait=60000", admin, []byte(`{"input":{"echo":"c"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" {
		t.Fatalf("runsync on the new endpoint c: %d %s", r.code, r.body)
	}

	// An invalid file: 400 naming the line; nothing changes.
	reloadConfig(t, cfg, `apiKeys: [admin-key]
endpoints:
  - id: c
    scalerType: FOO
`)
	r = s.do(t, "POST", "/v2/admin/reload", admin, nil)
	if msg, _ := r.json(t)["error"].(string); r.code != 400 || !strings.Contains(msg, cfg+":4: endpoints[0].scalerType") {
		t.Errorf("reload of an invalid file: %d %s, want 400 naming %s:4", r.code, r.body, cfg)
	}
	if r := s.do(t, "GET", "/v2/c/health", admin, nil); r.code != 200 {
		t.Errorf("c after a refused reload: %d %s", r.code, r.body)
	}

	// Same file again: reloaded, no changes.
	reloadConfig(t, cfg, `apiKeys: [admin-key]
endpoints:
  - id: c
`)
	r = s.do(t, "POST", "/v2/admin/reload", admin, nil)
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"changes":[],"reloaded":true}` {
		t.Errorf("reload of an unchanged file: %d %s", r.code, r.body)
	}
}

// TestReloadWorkerKey: a reload that changes an endpoint's worker key does
// not lose the job a worker started with the old key holds: its result is
// accepted, but the old key takes no new job, while a worker with the new
// key does.
func TestReloadWorkerKey(t *testing.T) {
	s, cfg := serveConfig(t, "pingIntervalMs: 1000\nendpoints:\n  - id: ext\n    workerKey: old-worker-key\n", []string{"SLUICE_API_KEYS="})
	old := s.startWorker(t, "ext", "old-1", nil, "--config", cfg)
	started := filepath.Join(t.TempDir(), "held-started")
	held := s.runAuthed(t, "", "ext", fmt.Sprintf(`{"sleep_ms": 3000, "echo": "held", "started": %q}`, started))
	testutil.WaitFor(t, 60*time.Second, "the held job to start", func() bool { _, err := os.Stat(started); return err == nil })

	reloadConfig(t, cfg, "pingIntervalMs: 1000\nendpoints:\n  - id: ext\n    workerKey: new-worker-key\n")
	r := s.do(t, "POST", "/v2/admin/reload", "", nil)
	if r.code != 200 || !strings.Contains(string(r.body), "endpoint ext changed: workerKey") {
		t.Fatalf("reload: %d %s", r.code, r.body)
	}
	done := s.waitStatus(t, "", "ext", held, 60*time.Second, "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
	if done["status"] != "COMPLETED" || done["output"].(map[string]any)["worker"] != old.id {
		t.Fatalf("the job held across the key change: %v", done)
	}
	if r := s.do(t, "GET", "/v2/ext/job-take/old-2", "old-worker-key", nil); r.code != 401 {
		t.Errorf("job-take with the old key: %d %s, want 401", r.code, r.body)
	}
	s.startWorker(t, "ext", "new-1", nil, "--config", cfg)
	r = s.do(t, "POST", "/v2/ext/runsync?wait=60000", "", []byte(`{"input":{"echo":"next"}}`))
	if m := r.json(t); r.code != 200 || m["status"] != "COMPLETED" || m["output"].(map[string]any)["worker"] != "new-1" {
		t.Fatalf("a job after the key change: %d %s (want it run by new-1)", r.code, r.body)
	}
}
