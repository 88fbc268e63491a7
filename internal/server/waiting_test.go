package server

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/wire"
)

// TestManagedReason pins the order in which a managed endpoint's waiting
// reasons win. GPUS_BUSY and WORKERS_UNHEALTHY have no e2e situation (no
// GPUs on the test machine; wedged workers are covered by wedged_test.go's
// counts), so their precedence is checked here.
func TestManagedReason(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	startedAt := now.Add(-3 * time.Second)
	starting := func() (string, time.Time) { return "as-w1", startedAt }
	crash := scaler.EndpointStatus{Unhealthy: true, CrashStreak: 3, LastExit: "exit status 2", NextStartAt: now.Add(4 * time.Second)}
	for _, tc := range []struct {
		name   string
		st     scaler.EndpointStatus
		c      engine.WorkerCounts
		max    int
		reason string
		msg    string
	}{
		{"crash loop beats everything", crash, engine.WorkerCounts{Initializing: 1, Unhealthy: 1}, 1, wire.WaitCrashLoop, "last exit: exit status 2; next start in 4s"},
		{"first crash in back-off", scaler.EndpointStatus{CrashStreak: 1, LastExit: "exit status 2", NextStartAt: now.Add(time.Second)}, engine.WorkerCounts{Unhealthy: 1}, 1, wire.WaitCrashLoop, "1 worker(s) in a row"},
		{"an idle worker", scaler.EndpointStatus{}, engine.WorkerCounts{Idle: 1, Initializing: 1}, 3, wire.WaitQueued, "1 idle"},
		{"cold start", scaler.EndpointStatus{}, engine.WorkerCounts{Initializing: 1, Running: 1}, 3, wire.WaitStartingWorker, "as-w1 is starting (3s so far)"},
		{"GPUs taken", scaler.EndpointStatus{}, engine.WorkerCounts{Running: 1, Throttled: 1}, 3, wire.WaitGPUsBusy, "free GPU"},
		{"wedged at max", scaler.EndpointStatus{}, engine.WorkerCounts{Running: 1, Unhealthy: 1}, 2, wire.WaitWorkersUnhealthy, "1 worker(s) are unhealthy"},
		{"workersMax 0", scaler.EndpointStatus{}, engine.WorkerCounts{}, 0, wire.WaitNoWorkers, "sluice worker-env as"},
		{"busy at max", scaler.EndpointStatus{}, engine.WorkerCounts{Running: 2}, 2, wire.WaitAtMaxWorkers, "workersMax (2)"},
		{"room to grow", scaler.EndpointStatus{}, engine.WorkerCounts{Running: 1}, 2, wire.WaitQueued, "being added"},
	} {
		w := managedReason("as", tc.st, tc.c, tc.max, starting, now)
		if w.Reason != tc.reason || !strings.Contains(w.Message, tc.msg) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, w.Reason, w.Message, tc.reason, tc.msg)
		}
		wantSince := now
		if tc.reason == wire.WaitStartingWorker {
			wantSince = startedAt
		}
		if !w.Since.Equal(wantSince) {
			t.Errorf("%s: since %v, want %v", tc.name, w.Since, wantSince)
		}
	}
}

// TestWaitingSince: an endpoint's reason keeps its since while it holds
// from one look to the next, and starts anew when the reason changes; a
// look within the cache period reuses the last answer.
func TestWaitingSince(t *testing.T) {
	ctx := t.Context()
	eng := openEngine(t, "ep")
	ws := &waits{eps: map[string]waitEntry{}} // ttl 0: every look recomputes
	h := hookedEngine{Engine: eng, waits: ws}
	first := h.Waiting(ctx, "ep")
	if first == nil || first.Reason != wire.WaitNoWorkers || !strings.Contains(first.Message, "sluice worker-env ep") {
		t.Fatalf("no worker connected: %+v", first)
	}
	again := h.Waiting(ctx, "ep")
	if again == nil || again.Reason != wire.WaitNoWorkers || !again.Since.Equal(first.Since) {
		t.Fatalf("second look %+v, want NO_WORKERS since %v", again, first.Since)
	}
	if err := eng.Ping(ctx, "ep", "by-hand", nil); err != nil {
		t.Fatal(err)
	}
	idle := h.Waiting(ctx, "ep")
	if idle == nil || idle.Reason != wire.WaitQueued || !idle.Since.After(first.Since) {
		t.Fatalf("with an idle worker: %+v, want QUEUED since after %v", idle, first.Since)
	}
	ws.ttl = time.Hour
	ws.eps["ep"] = waitEntry{at: time.Now(), w: *first}
	if cached := h.Waiting(ctx, "ep"); cached == nil || cached.Reason != wire.WaitNoWorkers {
		t.Fatalf("a look within the cache period: %+v, want the cached NO_WORKERS", cached)
	}
}

// openEngine opens an embedded engine with endpoints ids, closed when the test ends.
func openEngine(tb testing.TB, ids ...string) *engine.Engine {
	tb.Helper()
	eps := make([]engine.EndpointSettings, 0, len(ids))
	for _, id := range ids {
		eps = append(eps, engine.EndpointSettings{ID: id})
	}
	eng, err := engine.Open(tb.Context(), engine.Config{DataDir: tb.TempDir(), Endpoints: eps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = eng.Close() })
	return eng
}
