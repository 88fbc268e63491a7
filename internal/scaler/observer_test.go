package scaler

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// events is an Observer that keeps what it hears, per endpoint.
type events struct {
	mu     sync.Mutex
	starts map[string]int
	ready  map[string][]time.Duration
	exits  map[string][]ExitReason
}

func newEvents() *events {
	return &events{starts: map[string]int{}, ready: map[string][]time.Duration{}, exits: map[string][]ExitReason{}}
}

func (e *events) WorkerStarted(ep string) { e.mu.Lock(); e.starts[ep]++; e.mu.Unlock() }

func (e *events) WorkerReady(ep string, d time.Duration) {
	e.mu.Lock()
	e.ready[ep] = append(e.ready[ep], d)
	e.mu.Unlock()
}

func (e *events) WorkerExited(ep string, r ExitReason) {
	e.mu.Lock()
	e.exits[ep] = append(e.exits[ep], r)
	e.mu.Unlock()
}

func (e *events) get(ep string) (starts int, ready []time.Duration, exits []ExitReason) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts[ep], append([]time.Duration(nil), e.ready[ep]...), append([]ExitReason(nil), e.exits[ep]...)
}

// TestObserverHearsStartsReadyAndExits: a worker's start, its cold start
// (until the engine first lists it) and its exit are reported with the
// reason: drained on scale-down, crash for a crash loop and for a program
// that cannot start, shutdown when Run ends.
func TestObserverHearsStartsReadyAndExits(t *testing.T) {
	ev := newEvents()
	h := newHarness(t, `
endpoints:
  - id: up
    command: [TESTWORKERBIN]
    workersMin: 1
  - id: crash
    command: [TESTWORKERBIN]
    workersMin: 1
    env: {WORKER_CRASH: "1"}
  - id: nope
    command: [./no-such-worker]
    workersMin: 1
`, func(c *Config) { c.Observer = ev })
	started := time.Now()
	testutil.WaitFor(t, 20*time.Second, "worker of up ready, two crashes of crash and of nope", func() bool {
		_, ready, _ := ev.get("up")
		_, _, crashes := ev.get("crash")
		_, _, nopes := ev.get("nope")
		return len(ready) == 1 && len(crashes) >= 2 && len(nopes) >= 2
	})
	if n, ready, exits := ev.get("up"); n != 1 || len(exits) != 0 || ready[0] <= 0 || ready[0] > time.Since(started) {
		t.Fatalf("up: %d starts, ready after %v, exits %v; want 1 start, 0 < cold start <= %v, no exit", n, ready, exits, time.Since(started))
	}
	for _, ep := range []string{"crash", "nope"} {
		n, ready, exits := ev.get(ep)
		if len(ready) != 0 || n < len(exits) || n > len(exits)+1 {
			t.Errorf("%s: %d starts, %d ready, exits %v; want every start to end in one exit, none ready", ep, n, len(ready), exits)
		}
		for _, r := range exits {
			if r != ExitCrash {
				t.Errorf("%s: exit reason %q, want %q", ep, r, ExitCrash)
			}
		}
	}

	// Scale-down: the idle worker above workersMin is drained.
	h.update("endpoints:\n  - id: up\n    command: [TESTWORKERBIN]\n    workersMin: 0\n    idleTimeout: 1\n")
	testutil.WaitFor(t, 20*time.Second, "the worker of up drained", func() bool {
		_, _, exits := ev.get("up")
		return len(exits) == 1
	})
	if _, _, exits := ev.get("up"); exits[0] != ExitDrained {
		t.Fatalf("up exited with %v, want %q", exits, ExitDrained)
	}

	// Shutdown: a worker still running when Run ends.
	h.update("endpoints:\n  - id: up\n    command: [TESTWORKERBIN]\n    workersMin: 1\n")
	testutil.WaitFor(t, 20*time.Second, "a second worker of up ready", func() bool {
		_, ready, _ := ev.get("up")
		return len(ready) == 2
	})
	h.stop()
	if n, _, exits := ev.get("up"); n != 2 || len(exits) != 2 || exits[1] != ExitShutdown {
		t.Fatalf("up after shutdown: %d starts, exits %v; want 2 starts, the second ending in %q", n, exits, ExitShutdown)
	}
}
