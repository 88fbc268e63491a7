package scaler

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/logs"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestKilledWorkerIsReplacedAndItsJobRerun(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: k
    command: [TESTWORKERBIN]
    workersMin: 1
    workersMax: 1
`, nil)
	var first WorkerInfo
	testutil.WaitFor(t, 20*time.Second, "one idle worker", func() bool {
		ws := h.live("k")
		if len(ws) == 1 && ws[0].Status == StatusIdle {
			first = ws[0]
			return true
		}
		return false
	})
	job := h.submit("k", map[string]any{"sleep_ms": 3000})
	testutil.WaitFor(t, 20*time.Second, "job running", func() bool { return h.js.job(job).State == "running" })
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second WorkerInfo
	testutil.WaitFor(t, 20*time.Second, "a new worker", func() bool {
		for _, w := range h.live("k") {
			if w.ID != first.ID && w.Status != StatusInitializing {
				second = w
				return true
			}
		}
		return false
	})
	j := h.js.waitDone(20*time.Second, job)[0]
	if j.Output["worker"] != second.ID || j.Takes != 2 {
		t.Errorf("job ran on %v, %d takes; want re-run on %s (2 takes)", j.Output["worker"], j.Takes, second.ID)
	}
	h.js.mu.Lock()
	exited := slices.Clone(h.js.exited)
	h.js.mu.Unlock()
	if !slices.Contains(exited, first.ID) {
		t.Errorf("WorkerExited not called for %s: %v", first.ID, exited)
	}
	st, _ := h.sup.Status("k")
	if st.Unhealthy || st.CrashStreak != 0 {
		t.Errorf("status after recovery: %+v", st)
	}
	if !strings.Contains(st.LastExit, "killed") {
		t.Errorf("LastExit = %q, want the kill recorded", st.LastExit)
	}
}

func TestCrashLoopBacksOffAndShowsUnhealthy(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: crash
    command: [TESTWORKERBIN]
    workersMin: 1
    env: {WORKER_CRASH: "1"}
`, nil)
	var st EndpointStatus
	testutil.WaitFor(t, 20*time.Second, "unhealthy after 4 crashes", func() bool {
		st, _ = h.sup.Status("crash")
		return st.Unhealthy && st.CrashStreak >= 4
	})
	if all := h.sup.Statuses(); len(all) != 1 || all[0].Endpoint != "crash" || !all[0].Unhealthy || !all[0].Managed {
		t.Errorf("Statuses() = %+v", all)
	}
	if !strings.Contains(st.LastExit, "exited with status 3") || !slices.Contains(st.LastLines, "ERROR  | boom: crashing on purpose") {
		t.Errorf("status does not say why: exit %q, lines %q", st.LastExit, st.LastLines)
	}
	if c := h.sup.Counts("crash"); c.Unhealthy != 1 || c.Idle != 0 {
		t.Errorf("counts = %+v, want 1 unhealthy (one wanted worker)", c)
	}
	// Starts are spaced by a doubling back-off: 100, 200, 400 ms...
	recs, err := h.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	for _, r := range recs {
		if r.Stream == logs.StreamSystem && strings.Contains(r.Line, " started (pid ") {
			starts = append(starts, r.Time)
		}
	}
	if len(starts) < 4 {
		t.Fatalf("%d starts logged, want at least 4", len(starts))
	}
	if g1, g3 := starts[1].Sub(starts[0]), starts[3].Sub(starts[2]); g1 < 100*time.Millisecond || g3 < 400*time.Millisecond || g3 <= g1 {
		t.Errorf("gaps between starts %v then %v; want >= 100ms then >= 400ms (doubling)", g1, g3)
	}
	for _, w := range h.live("crash") {
		if w.Status != StatusInitializing {
			t.Errorf("a crash-looping endpoint has worker %+v", w)
		}
	}
	// Fixing the config ends the loop.
	h.update("endpoints:\n  - id: crash\n    command: [TESTWORKERBIN]\n    workersMin: 1\n")
	testutil.WaitFor(t, 20*time.Second, "healthy again", func() bool {
		st, _ = h.sup.Status("crash")
		c := h.sup.Counts("crash")
		return !st.Unhealthy && c.Idle == 1 && c.Unhealthy == 0
	})
}

func TestMissingProgramIsReported(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: nope
    command: [./no-such-worker, --flag]
    workersMin: 1
`, nil)
	testutil.WaitFor(t, 20*time.Second, "unhealthy", func() bool {
		st, _ := h.sup.Status("nope")
		return st.Unhealthy && strings.Contains(st.LastExit, "no-such-worker") && strings.Contains(st.LastExit, "no such file")
	})
	ws := h.sup.Workers("nope")
	if len(ws) == 0 || ws[len(ws)-1].Status != StatusUnhealthy || ws[len(ws)-1].Exit == "" {
		t.Errorf("workers = %+v, want crash records", ws)
	}
}

func TestUpdateRejectsDuplicateIDs(t *testing.T) {
	h := newHarness(t, "endpoints:\n  - id: a\n", nil)
	eps := append(h.cfg.Endpoints, h.cfg.Endpoints[0])
	if err := h.sup.Update(t.Context(), eps); err == nil {
		t.Error("Update accepted duplicate endpoint ids")
	}
	if _, err := New(Config{Queue: h.js, DataDir: t.TempDir()}); err == nil {
		t.Error("New accepted a config without BaseURL")
	}
	if _, err := New(Config{BaseURL: "http://127.0.0.1:1", DataDir: t.TempDir()}); err == nil {
		t.Error("New accepted a config without Queue")
	}
	if _, err := New(Config{BaseURL: "http://127.0.0.1:1", Queue: h.js}); err == nil {
		t.Error("New accepted a config without DataDir or Logs")
	}
}

func TestRefreshReplacesWorker(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: r
    command: [TESTWORKERBIN]
    workersMin: 1
    workersMax: 1
`, nil)
	// idle waits for the one idle worker that is not except.
	idle := func(except string) string {
		var id string
		testutil.WaitFor(t, 20*time.Second, "an idle worker other than "+except, func() bool {
			ws := h.live("r")
			if len(ws) == 1 && ws[0].Status == StatusIdle && !ws[0].Draining && ws[0].ID != except {
				id = ws[0].ID
				return true
			}
			return false
		})
		return id
	}
	w1 := idle("")
	// stopPod in job-done (per-job refresh_worker): the worker keeps running;
	// the supervisor replaces it.
	j := h.js.waitDone(20*time.Second, h.submit("r", map[string]any{"stopPod": true}))[0]
	if j.Output["worker"] != w1 {
		t.Fatalf("job ran on %v, want %s", j.Output["worker"], w1)
	}
	w2 := idle(w1)
	// refresh_worker config flag: the worker exits 0 by itself after the job.
	h.js.waitDone(20*time.Second, h.submit("r", map[string]any{"refresh": true}))
	w3 := idle(w2)
	// A worker exiting 0 by itself after it ran jobs is replaced too, and is no crash.
	h.js.waitDone(20*time.Second, h.submit("r", map[string]any{"quit": true}))
	w3 = idle(w3)
	if st, _ := h.sup.Status("r"); st.CrashStreak != 0 || h.sup.Counts("r").Unhealthy != 0 {
		t.Errorf("a refresh counted as a crash: %+v", st)
	}
	if h.sup.Refresh("no-such-worker") {
		t.Error("Refresh of an unknown worker reported true")
	}
	// Direct Refresh of an idle worker.
	if !h.sup.Refresh(w3) {
		t.Fatal("Refresh(w3) = false")
	}
	idle(w3)
}

func TestStopGraceKillsWorkerIgnoringSIGTERM(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: stubborn
    command: [TESTWORKERBIN]
    workersMax: 1
    idleTimeout: 1
    env: {WORKER_IGNORE_TERM: "1"}
`, func(c *Config) { c.StopGrace = 300 * time.Millisecond })
	h.js.waitDone(20*time.Second, h.submit("stubborn", map[string]any{"sleep_ms": 1}))
	testutil.WaitFor(t, 20*time.Second, "scaled to zero", func() bool { return len(h.sup.Workers("stubborn")) == 0 })
	recs, _ := h.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "stubborn"})
	var seq []string
	for _, r := range recs {
		switch {
		case strings.Contains(r.Line, "SIGTERM ("):
			seq = append(seq, "term")
		case strings.Contains(r.Line, "got SIGTERM"):
			seq = append(seq, "ignored")
		case strings.Contains(r.Line, "SIGKILL ("):
			seq = append(seq, "kill")
		}
	}
	if strings.Join(seq, ",") != "term,ignored,kill" {
		t.Errorf("stop sequence %v, want term, ignored, kill; log: %+v", seq, recs)
	}
	if st, _ := h.sup.Status("stubborn"); st.CrashStreak != 0 {
		t.Errorf("a scale-down kill counted as a crash: %+v", st)
	}
}

func TestShutdownKillsAfterGrace(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: sh
    command: [TESTWORKERBIN]
    workersMin: 2
    env: {WORKER_IGNORE_TERM: "1"}
`, func(c *Config) { c.ShutdownGrace = 500 * time.Millisecond })
	testutil.WaitFor(t, 20*time.Second, "2 workers up", func() bool { return h.sup.Counts("sh").Idle == 2 })
	start := time.Now()
	h.stop() // checks the processes are gone
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("Run returned after %s, before the shutdown grace", d)
	}
}

func TestNoOrphansAfterWorkerExits(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: orphan
    command: [TESTWORKERBIN]
    workersMax: 1
    idleTimeout: 1
    env: {WORKER_SPAWN_CHILD: "1"}
`, nil)
	j := h.js.waitDone(20*time.Second, h.submit("orphan", map[string]any{"sleep_ms": 1}))[0]
	var child int
	testutil.WaitFor(t, 10*time.Second, "child pid file", func() bool {
		b, err := os.ReadFile(filepath.Join(h.envDir, j.Output["worker"].(string)+".child"))
		if err != nil {
			return false
		}
		child, err = strconv.Atoi(string(b))
		return err == nil
	})
	if !alive(child) {
		t.Fatalf("child %d not running while its worker is", child)
	}
	testutil.WaitFor(t, 20*time.Second, "scaled to zero", func() bool { return len(h.sup.Workers("orphan")) == 0 })
	testutil.WaitFor(t, 10*time.Second, "child gone", func() bool { return !alive(child) })
}

func TestWorkerNeverReadyIsKilled(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: silent
    command: [TESTWORKERBIN]
    workersMin: 1
    env: {WORKER_SILENT: "1", RUNPOD_INIT_TIMEOUT: "1"}
`, nil)
	testutil.WaitFor(t, 20*time.Second, "init timeout recorded as a crash", func() bool {
		st, _ := h.sup.Status("silent")
		return st.CrashStreak >= 1 && strings.Contains(st.LastExit, "neither took a job nor pinged within 1s")
	})
	ws := h.sup.Workers("silent")
	if last := ws[len(ws)-1]; last.Status != StatusUnhealthy || !slices.Contains(last.LogTail, "INFO   | silent: never taking or pinging") {
		t.Errorf("crash record %+v", last)
	}
}

func TestLostWorkerIsKilledAndReplaced(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: lost
    command: [TESTWORKERBIN]
    workersMin: 1
    workersMax: 1
    env: {WORKER_HANG_AFTER_JOB: "1"}
`, nil)
	j := h.js.waitDone(20*time.Second, h.submit("lost", map[string]any{"sleep_ms": 1}))[0]
	hungID := j.Output["worker"].(string)
	// The job server forgets it after 2 s without pings, the supervisor kills
	// it 2 s (LostAfter) later and starts another.
	testutil.WaitFor(t, 30*time.Second, "a replacement", func() bool {
		ws := h.live("lost")
		return len(ws) == 1 && ws[0].ID != hungID && ws[0].Status == StatusIdle
	})
	recs, _ := h.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "lost", Worker: hungID})
	found := false
	for _, r := range recs {
		found = found || (r.Stream == logs.StreamSystem && strings.Contains(r.Line, "SIGKILL (no ping for"))
	}
	if !found {
		t.Errorf("no SIGKILL for a lost worker in its log: %+v", recs)
	}
}
