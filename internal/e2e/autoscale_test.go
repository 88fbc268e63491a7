package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The tests of issue #4: `sluice serve --config` starts, scales, replaces
// and stops real worker processes (the Go SDK test worker), observed only
// through the HTTP API (/health, /workers, /logs, /status) and files the
// workers write.

// managed starts `sluice serve` on a config whose only endpoint "as" runs
// the test worker; endpoint holds the endpoint's other settings, one per
// line, indented by four spaces. The client API is open (loopback, no key).
func managed(t *testing.T, endpoint string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf("pingIntervalMs: 1000\nendpoints:\n  - id: as\n    command: [%q]\n%s", bins.worker, endpoint)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg)
}

// procInfo is one entry of GET /v2/{endpoint}/workers on a managed endpoint.
type procInfo struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	PID       int       `json:"pid"`
	GPUs      []string  `json:"gpus"`
	Jobs      []string  `json:"jobs"`
	StartedAt time.Time `json:"startedAt"`
	Draining  bool      `json:"draining"`
	ExitedAt  time.Time `json:"exitedAt"`
	Exit      string    `json:"exit"`
	LogTail   []string  `json:"logTail"`
}

// procs returns GET /v2/{ep}/workers split into live processes and crash
// records, or an error (not t.Fatal, so a monitoring goroutine can call it).
func (s *server) procs(ep string) ([]procInfo, []procInfo, error) {
	r, err := s.try("GET", "/v2/"+ep+"/workers", "", nil)
	if err != nil {
		return nil, nil, err
	}
	if r.code != 200 {
		return nil, nil, fmt.Errorf("GET /v2/%s/workers: %d %s", ep, r.code, r.body)
	}
	var body struct {
		Workers []procInfo `json:"workers"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return nil, nil, fmt.Errorf("GET /v2/%s/workers: %w: %s", ep, err, r.body)
	}
	var live, crashed []procInfo
	for _, w := range body.Workers {
		if w.ExitedAt.IsZero() {
			live = append(live, w)
		} else {
			crashed = append(crashed, w)
		}
	}
	return live, crashed, nil
}

func (s *server) live(t *testing.T, ep string) []procInfo {
	t.Helper()
	live, _, err := s.procs(ep)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// counts is /health's workers object.
func (s *server) counts(t *testing.T, ep string) map[string]int {
	t.Helper()
	r := s.do(t, "GET", "/v2/"+ep+"/health", "", nil)
	if r.code != 200 {
		t.Fatalf("health: %d %s", r.code, r.body)
	}
	out := map[string]int{}
	for k, v := range r.json(t)["workers"].(map[string]any) {
		out[k] = int(v.(float64))
	}
	return out
}

// zero reports whether /health and /workers both show no worker process.
func (s *server) zero(t *testing.T, ep string) bool {
	c := s.counts(t, ep)
	return c["idle"]+c["running"]+c["initializing"] == 0 && len(s.live(t, ep)) == 0
}

// submit sends /run and returns the job id.
func (s *server) submit(t *testing.T, ep, input string) string {
	t.Helper()
	r := s.do(t, "POST", "/v2/"+ep+"/run", "", []byte(`{"input":`+input+`}`))
	id, _ := r.json(t)["id"].(string)
	if r.code != 200 || id == "" {
		t.Fatalf("run %s: %d %s", input, r.code, r.body)
	}
	return id
}

// monitor polls /workers every 20 ms until stopped and remembers the most
// live worker processes seen at once and every worker seen.
type monitor struct {
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	peak  int
	seen  map[string]procInfo
	polls int
	err   error
}

func watchWorkers(s *server, ep string) *monitor {
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]procInfo{}}
	go func() {
		defer close(m.done)
		for {
			live, _, err := s.procs(ep)
			m.mu.Lock()
			if err != nil && m.err == nil {
				m.err = err
			}
			m.polls++
			m.peak = max(m.peak, len(live))
			for _, w := range live {
				if _, ok := m.seen[w.ID]; !ok {
					m.seen[w.ID] = w
				}
			}
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return m
}

// end stops the monitor and returns its peak and the workers seen, by start.
func (m *monitor) end(t *testing.T) (int, []procInfo) {
	t.Helper()
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		t.Fatalf("watching /workers: %v", m.err)
	}
	var ws []procInfo
	for _, w := range m.seen {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b procInfo) int { return a.StartedAt.Compare(b.StartedAt) })
	return m.peak, ws
}

// waitAll waits for every job to end and returns their final /status.
func (s *server) waitAll(t *testing.T, ep string, ids []string, timeout time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = s.waitStatus(t, "", ep, id, time.Until(deadline), "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
	}
	return out
}

// burst submits n jobs of input and waits for all of them to complete; it
// returns the distinct worker ids that ran them.
func burst(t *testing.T, s *server, n int, input string, timeout time.Duration) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.submit(t, "as", input)
	}
	var workers []string
	for i, st := range s.waitAll(t, "as", ids, timeout) {
		if st["status"] != "COMPLETED" {
			t.Fatalf("job %d of the burst: %v", i, st)
		}
		w, _ := st["workerId"].(string)
		if !slices.Contains(workers, w) {
			workers = append(workers, w)
		}
	}
	return workers
}

// TestAutoscaleBurstRequestCount: a burst of 50 jobs of 300 ms on a
// REQUEST_COUNT endpoint (one worker per request, at most 3) scales it from
// zero to exactly 3 worker processes, never more; every job completes; once
// the queue is empty the workers stay for idleTimeout and then all stop.
func TestAutoscaleBurstRequestCount(t *testing.T) {
	s := managed(t, `    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 3
    idleTimeout: 5
`)
	if !s.zero(t, "as") {
		t.Fatalf("workers before any job: %v", s.counts(t, "as"))
	}
	m := watchWorkers(s, "as")
	ran := burst(t, s, 50, `{"sleep_ms":300}`, 2*time.Minute)
	// Right after the last job the workers are idle, not gone: they stop
	// only after idleTimeout (5 s).
	c := s.counts(t, "as")
	if c["idle"]+c["running"] == 0 {
		t.Errorf("no idle worker right after the burst (idleTimeout 5 s): %v", c)
	}
	peak, seen := m.end(t)
	t.Logf("peak %d live workers, %d seen, jobs ran on %d", peak, len(seen), len(ran))
	if peak != 3 || len(seen) != 3 {
		t.Errorf("peak live workers %d, distinct workers %d; want exactly 3 and 3 (workersMax)", peak, len(seen))
	}
	if len(ran) > 3 {
		t.Errorf("jobs ran on %d workers, want at most 3: %v", len(ran), ran)
	}
	for _, w := range ran {
		if !slices.ContainsFunc(seen, func(p procInfo) bool { return p.ID == w }) {
			t.Errorf("a job ran on %q, which is not one of the endpoint's processes %v", w, seen)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "the endpoint to scale back to zero workers", func() bool { return s.zero(t, "as") })
}

// TestAutoscaleBurstQueueDelay: on a QUEUE_DELAY endpoint (scalerValue 1 s)
// the first job starts one worker at once; more workers come only once a
// job has waited longer than 1 s; every job completes and the endpoint goes
// back to zero.
func TestAutoscaleBurstQueueDelay(t *testing.T) {
	s := managed(t, `    scalerType: QUEUE_DELAY
    scalerValue: 1
    workersMax: 3
    idleTimeout: 1
`)
	m := watchWorkers(s, "as")
	first := time.Now()
	burst(t, s, 12, `{"sleep_ms":500}`, 2*time.Minute)
	peak, seen := m.end(t)
	for i, w := range seen {
		t.Logf("worker %d started %v after the first job", i+1, w.StartedAt.Sub(first).Round(time.Millisecond))
	}
	if len(seen) < 2 || peak > 3 {
		t.Fatalf("workers seen %d (want at least 2: one worker alone needs 6 s for the burst), peak %d (max 3)", len(seen), peak)
	}
	// From zero, the first worker starts at once, without waiting for the
	// delay (it starts within a second: the second worker may not start
	// before a job has waited a second).
	if d := seen[0].StartedAt.Sub(first); d >= time.Second {
		t.Errorf("first worker started %v after the first job, want at once", d)
	}
	if d := seen[1].StartedAt.Sub(first); d <= time.Second {
		t.Errorf("second worker started %v after the first job; no job had waited more than scalerValue (1 s) yet", d)
	}
	testutil.WaitFor(t, 30*time.Second, "the endpoint to scale back to zero workers", func() bool { return s.zero(t, "as") })
}

// TestAutoscaleRefresh: a job whose result carries refresh_worker (stopPod)
// has its worker replaced; the next job runs on a new worker.
func TestAutoscaleRefresh(t *testing.T) {
	s := managed(t, `    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 1
    idleTimeout: 30
`)
	runsync := func(input string) map[string]any {
		r := s.do(t, "POST", "/v2/as/runsync?wait=60000", "", []byte(`{"input":`+input+`}`))
		m := r.json(t)
		if r.code != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("runsync %s: %d %s", input, r.code, r.body)
		}
		return m
	}
	mon := watchWorkers(s, "as")
	first := runsync(`{"refresh":true,"echo":1}`)["workerId"]
	second := runsync(`{"echo":2}`)
	if second["workerId"] == first || second["output"].(map[string]any)["worker"] != second["workerId"] {
		t.Fatalf("the job after a refresh ran on %v, the refreshed worker was %v", second["workerId"], first)
	}
	testutil.WaitFor(t, 20*time.Second, "the refreshed worker to exit", func() bool {
		return !slices.ContainsFunc(s.live(t, "as"), func(p procInfo) bool { return p.ID == first })
	})
	third := runsync(`{"echo":3}`)
	if third["workerId"] != second["workerId"] {
		t.Errorf("a job without refresh_worker replaced the worker: %v, then %v", second["workerId"], third["workerId"])
	}
	// The replacement starts once the refreshed worker has exited.
	if peak, _ := mon.end(t); peak > 1 {
		t.Errorf("%d worker processes at once during the refresh, workersMax is 1", peak)
	}
}

// TestAutoscaleGPUs: three workers on a pool of three GPUs, one each, get
// distinct CUDA_VISIBLE_DEVICES, as they see it in their environment and as
// /workers reports it.
func TestAutoscaleGPUs(t *testing.T) {
	envDir := t.TempDir()
	s := managed(t, fmt.Sprintf(`    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 3
    idleTimeout: 30
    gpus: ["0", "1", "2"]
    gpuCount: 1
    env:
      E2E_ENV_DIR: %q
`, envDir))
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = s.submit(t, "as", `{"sleep_ms":1000}`)
	}
	var live []procInfo
	testutil.WaitFor(t, 30*time.Second, "three workers in /workers", func() bool {
		live = s.live(t, "as")
		return len(live) == 3
	})
	var devices []string
	for _, w := range live {
		var b []byte
		testutil.WaitFor(t, 10*time.Second, "worker "+w.ID+" to write its environment", func() bool {
			var err error
			b, err = os.ReadFile(filepath.Join(envDir, w.ID+".env"))
			return err == nil && strings.Contains(string(b), "RUNPOD_POD_ID=")
		})
		env := strings.Split(string(b), "\n")
		var cuda string
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "CUDA_VISIBLE_DEVICES="); ok {
				cuda = v
			}
		}
		if !slices.Contains(env, "RUNPOD_GPU_COUNT=1") || !slices.Equal(w.GPUs, []string{cuda}) {
			t.Errorf("worker %s: CUDA_VISIBLE_DEVICES=%q, RUNPOD_GPU_COUNT=1 %v, /workers gpus %v", w.ID, cuda, slices.Contains(env, "RUNPOD_GPU_COUNT=1"), w.GPUs)
		}
		devices = append(devices, cuda)
	}
	slices.Sort(devices)
	if !slices.Equal(devices, []string{"0", "1", "2"}) {
		t.Errorf("the workers' CUDA_VISIBLE_DEVICES: %v, want 0, 1 and 2 once each", devices)
	}
	for i, st := range s.waitAll(t, "as", ids, time.Minute) {
		if st["status"] != "COMPLETED" {
			t.Errorf("job %d: %v", i, st)
		}
	}
}

// TestAutoscaleGPUsThrottled: two endpoints share a pool of one GPU. While
// one endpoint's worker holds it, the other's wanted worker waits
// (throttled in /health, no process); it starts with the device once the
// first worker has scaled down, and its job completes.
func TestAutoscaleGPUsThrottled(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf(`pingIntervalMs: 1000
gpus: ["7"]
endpoints:
  - id: as
    command: [%[1]q]
    gpuCount: 1
    workersMax: 1
    idleTimeout: 1
  - id: bs
    command: [%[1]q]
    gpuCount: 1
    workersMax: 1
    idleTimeout: 1
`, bins.worker)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg)
	started := filepath.Join(dir, "started")
	a := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":1500,"started":%q}`, started))
	testutil.WaitFor(t, 30*time.Second, "the first endpoint's job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	b := s.submit(t, "bs", `{"echo":"b"}`)
	testutil.WaitFor(t, 10*time.Second, "/health of bs to show a throttled worker", func() bool {
		return s.counts(t, "bs")["throttled"] == 1
	})
	if live := s.live(t, "bs"); len(live) != 0 {
		t.Errorf("bs has a worker while the only GPU is taken: %+v", live)
	}
	if live := s.live(t, "as"); len(live) != 1 || !slices.Equal(live[0].GPUs, []string{"7"}) {
		t.Errorf("as's workers: %+v, want one with GPU 7", live)
	}
	if st := s.waitStatus(t, "", "as", a, 30*time.Second, "COMPLETED", "FAILED"); st["status"] != "COMPLETED" {
		t.Fatalf("as's job: %v", st)
	}
	st := s.waitStatus(t, "", "bs", b, 30*time.Second, "COMPLETED", "FAILED")
	if st["status"] != "COMPLETED" {
		t.Fatalf("bs's job: %v", st)
	}
	if live := s.live(t, "as"); len(live) != 0 {
		t.Errorf("bs's worker ran while as still had a worker on the only GPU: %+v", live)
	}
}

// TestAutoscaleScaleDownKeepsRunningJob: of two workers, the idle one stops
// after idleTimeout while the other keeps running its long job, which is
// never interrupted and completes on the same worker.
func TestAutoscaleScaleDownKeepsRunningJob(t *testing.T) {
	s := managed(t, `    scalerType: REQUEST_COUNT
    scalerValue: 1
    workersMax: 2
    idleTimeout: 1
`)
	dir := t.TempDir()
	started, stopped := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	long := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":10000,"started":%q,"stopped":%q,"echo":"long"}`, started, stopped))
	testutil.WaitFor(t, 30*time.Second, "the long job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	st := s.waitStatus(t, "", "as", long, 10*time.Second, "IN_PROGRESS")
	busy, _ := st["workerId"].(string)
	short := s.submit(t, "as", `{"echo":"short"}`)
	sst := s.waitStatus(t, "", "as", short, 30*time.Second, "COMPLETED")
	if sst["workerId"] == busy || sst["workerId"] == "" {
		t.Fatalf("the short job ran on %v; the long job's worker %s is busy", sst["workerId"], busy)
	}
	// The short job's worker is idle: it stops after idleTimeout while the
	// long job goes on.
	testutil.WaitFor(t, 20*time.Second, "the idle worker to stop", func() bool {
		live := s.live(t, "as")
		return len(live) == 1 && live[0].ID == busy
	})
	if st := s.waitStatus(t, "", "as", long, time.Second, "IN_PROGRESS", "COMPLETED"); st["status"] != "IN_PROGRESS" {
		t.Fatalf("the long job (10 s) is %v once the idle worker stopped; the test needs it still running", st["status"])
	}
	st = s.waitStatus(t, "", "as", long, 30*time.Second, "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
	if st["status"] != "COMPLETED" || st["workerId"] != busy || st["output"].(map[string]any)["worker"] != busy {
		t.Errorf("the long job: %v, want COMPLETED on %s", st, busy)
	}
	if r, _ := st["retries"].(float64); r != 0 {
		t.Errorf("the long job was re-run (retries %v)", st["retries"])
	}
	if _, err := os.Stat(stopped); err == nil {
		t.Errorf("the long job's context was cancelled (%s exists)", stopped)
	}
	testutil.WaitFor(t, 20*time.Second, "the endpoint to scale back to zero workers", func() bool { return s.zero(t, "as") })
}
