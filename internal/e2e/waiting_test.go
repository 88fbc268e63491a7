package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// Issue #12 item 1: /status of an IN_QUEUE job says why it waits, /health
// says why the endpoint's jobs wait; each reason from a real situation.

// waitingOf polls /status of job id until its "waiting" object has reason
// and returns that object.
func (s *server) waitingOf(t *testing.T, ep, id, reason string) map[string]any {
	t.Helper()
	var last map[string]any
	var got map[string]any
	testutil.WaitFor(t, 30*time.Second, "/status of "+id+" to wait with reason "+reason, func() bool {
		last = s.do(t, "GET", "/v2/"+ep+"/status/"+id, "", nil).json(t)
		w, _ := last["waiting"].(map[string]any)
		if last["status"] == "IN_QUEUE" && w["reason"] == reason {
			got = w
			return true
		}
		return false
	})
	if got == nil {
		t.Fatalf("last /status: %v", last)
	}
	since, _ := got["since"].(string)
	if _, err := time.Parse(time.RFC3339, since); err != nil {
		t.Errorf("waiting.since %q is not RFC 3339: %v", since, err)
	}
	if msg, _ := got["message"].(string); msg == "" {
		t.Errorf("waiting without a message: %v", got)
	}
	return got
}

// healthWaiting is the "waiting" object of /health for ep (nil if absent).
func (s *server) healthWaiting(t *testing.T, ep string) map[string]any {
	t.Helper()
	w, _ := s.do(t, "GET", "/v2/"+ep+"/health", "", nil).json(t)["waiting"].(map[string]any)
	return w
}

// TestWaitingNoWorkers: an endpoint without a command is announced at
// start; its queued job says NO_WORKERS with the worker-env line, in /status
// and /health, until a worker is connected by hand.
func TestWaitingNoWorkers(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS="}, "--endpoint", "bare")
	const warning = "no workers will start for bare; connect them with `sluice worker-env bare`"
	if n := strings.Count(s.log.String(), warning); n < 2 {
		t.Errorf("the start-up warning %q appears %d times (want the log line and the hint):\n%s", warning, n, s.log.String())
	}
	id := s.submit(t, "bare", `{"echo":"late"}`)
	w := s.waitingOf(t, "bare", id, "NO_WORKERS")
	if msg, _ := w["message"].(string); !strings.Contains(msg, "sluice worker-env bare") {
		t.Errorf("NO_WORKERS message %q does not say how to connect a worker", msg)
	}
	if hw := s.healthWaiting(t, "bare"); hw["reason"] != "NO_WORKERS" {
		t.Errorf("/health waiting %v, want NO_WORKERS", hw)
	}
	s.startWorker(t, "bare", "by-hand", nil)
	st := s.waitStatus(t, "", "bare", id, 30*time.Second, "COMPLETED", "FAILED")
	if st["status"] != "COMPLETED" || st["waiting"] != nil {
		t.Errorf("job after a worker connected: %v", st)
	}
	if hw := s.healthWaiting(t, "bare"); hw != nil {
		t.Errorf("/health still shows waiting with no job queued: %v", hw)
	}
}

// TestWaitingStartingWorker: the only worker starts slowly (it polls for no
// job until a gate file exists): the queued job says STARTING_WORKER, and
// runs once the worker is up.
func TestWaitingStartingWorker(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	s := managed(t, fmt.Sprintf(`    workersMax: 1
    env:
      E2E_START_GATE: %q
`, gate))
	id := s.submit(t, "as", `{"echo":"cold"}`)
	w := s.waitingOf(t, "as", id, "STARTING_WORKER")
	if msg, _ := w["message"].(string); !strings.Contains(msg, "starting") {
		t.Errorf("STARTING_WORKER message %q", msg)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st := s.waitStatus(t, "", "as", id, 30*time.Second, "COMPLETED", "FAILED"); st["status"] != "COMPLETED" {
		t.Errorf("job after the worker came up: %v", st)
	}
}

// TestWaitingAtMaxWorkers: workersMax 1 and its worker busy with a long
// job: the next job says AT_MAX_WORKERS, in /status and /health.
func TestWaitingAtMaxWorkers(t *testing.T) {
	s := managed(t, `    workersMax: 1
`)
	started := filepath.Join(t.TempDir(), "started")
	long := s.submit(t, "as", fmt.Sprintf(`{"sleep_ms":120000,"started":%q}`, started))
	testutil.WaitFor(t, 30*time.Second, "the long job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	next := s.submit(t, "as", `{"echo":"next"}`)
	w := s.waitingOf(t, "as", next, "AT_MAX_WORKERS")
	if msg, _ := w["message"].(string); !strings.Contains(msg, "workersMax") {
		t.Errorf("AT_MAX_WORKERS message %q", msg)
	}
	if hw := s.healthWaiting(t, "as"); hw["reason"] != "AT_MAX_WORKERS" {
		t.Errorf("/health waiting %v, want AT_MAX_WORKERS", hw)
	}
	if st := s.do(t, "GET", "/v2/as/status/"+long, "", nil).json(t); st["status"] != "IN_PROGRESS" || st["waiting"] != nil {
		t.Errorf("a running job shows %v", st)
	}
	// The long job ends (cancelled), so the next one runs.
	s.do(t, "POST", "/v2/as/cancel/"+long, "", nil)
	if st := s.waitStatus(t, "", "as", next, 30*time.Second, "COMPLETED", "FAILED"); st["status"] != "COMPLETED" {
		t.Errorf("next job after the long one was cancelled: %v", st)
	}
}

// TestWaitingCrashLoop: the worker exits at once, every time: the queued
// job says CRASH_LOOP with the last exit.
func TestWaitingCrashLoop(t *testing.T) {
	const line = "fatal: no weights (waiting test)"
	s := managed(t, fmt.Sprintf(`    workersMax: 1
    env:
      E2E_CRASH: %q
`, line))
	id := s.submit(t, "as", `{"echo":"never"}`)
	w := s.waitingOf(t, "as", id, "CRASH_LOOP")
	if msg, _ := w["message"].(string); !strings.Contains(msg, "last exit") {
		t.Errorf("CRASH_LOOP message %q does not give the last exit", msg)
	}
	if hw := s.healthWaiting(t, "as"); hw["reason"] != "CRASH_LOOP" {
		t.Errorf("/health waiting %v, want CRASH_LOOP", hw)
	}
}

// TestWaitingGPUsBusy: two endpoints share a pool of one GPU, one GPU per
// worker. While a worker of hog holds the GPU with a long job, a job of as
// waits for a GPU (GPUS_BUSY); once hog's worker is gone it runs.
func TestWaitingGPUsBusy(t *testing.T) {
	s := managedWith(t, fmt.Sprintf(`pingIntervalMs: 1000
gpus: ["0"]
endpoints:
  - id: hog
    command: [%q]
    gpuCount: 1
    workersMax: 1
    idleTimeout: 1
  - id: as
    command: [%q]
    gpuCount: 1
    workersMax: 1
`, bins.worker, bins.worker))
	started := filepath.Join(t.TempDir(), "started")
	long := s.submit(t, "hog", fmt.Sprintf(`{"sleep_ms":120000,"started":%q}`, started))
	testutil.WaitFor(t, 30*time.Second, "the long job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	next := s.submit(t, "as", `{"echo":"next"}`)
	w := s.waitingOf(t, "as", next, "GPUS_BUSY")
	if msg, _ := w["message"].(string); !strings.Contains(msg, "GPU") {
		t.Errorf("GPUS_BUSY message %q", msg)
	}
	if hw := s.healthWaiting(t, "as"); hw["reason"] != "GPUS_BUSY" {
		t.Errorf("/health waiting %v, want GPUS_BUSY", hw)
	}
	// hog's job ends and its worker stops after its idle timeout, freeing the GPU.
	s.do(t, "POST", "/v2/hog/cancel/"+long, "", nil)
	if st := s.waitStatus(t, "", "as", next, 60*time.Second, "COMPLETED", "FAILED"); st["status"] != "COMPLETED" {
		t.Errorf("the waiting job once the GPU was free: %v", st)
	}
}
