package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/client"
)

func TestLiveRender(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	l := liveState{start: t0}

	steps := []struct {
		observe *client.JobStatus
		at      time.Duration
		now     time.Duration
		width   int
		want    string
	}{
		{nil, 0, 50 * time.Millisecond, 100, "⠋ SUBMITTING   queued 50ms"},
		{&client.JobStatus{ID: "job-1", Status: client.StatusInQueue}, 100 * time.Millisecond, 1500 * time.Millisecond, 100,
			"⠴ IN_QUEUE     queued 1.5s  job job-1"},
		{&client.JobStatus{ID: "job-1", Status: client.StatusInProgress, DelayTime: 2100}, 2200 * time.Millisecond, 5200 * time.Millisecond, 100,
			"⠹ IN_PROGRESS  queued 2.1s  running 3.0s  job job-1"},
		{&client.JobStatus{ID: "job-1", Status: client.StatusInProgress, DelayTime: 2100, ExecutionTime: 4000,
			Output: json.RawMessage(`{"step": 3, "of": 10}`)}, 6 * time.Second, 6500 * time.Millisecond, 100,
			`⠴ IN_PROGRESS  queued 2.1s  running 4.5s  progress {"step":3,"of":10}  job job-1`},
		{nil, 0, 125 * time.Second, 40, "⠋ IN_PROGRESS  queued 2.1s  running 2m…"},
		{&client.JobStatus{ID: "job-1", Status: client.StatusCompleted, DelayTime: 2100, ExecutionTime: 3_725_000,
			Output: json.RawMessage(`"done"`)}, 3800 * time.Second, 3800 * time.Second, 100,
			"⠋ COMPLETED    queued 2.1s  running 1h02m  job job-1"},
	}
	for i, s := range steps {
		if s.observe != nil {
			l.observe(s.observe, at(s.at))
		}
		if got := l.render(at(s.now), s.width); got != s.want {
			t.Errorf("step %d:\n got %q\nwant %q", i, got, s.want)
		}
	}
}

// TestLiveRenderWaiting: the job id shows from the moment the server
// accepted the job, and a queued job's waiting reason follows it.
func TestLiveRenderWaiting(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := liveState{jobID: "j", start: t0}
	if got, want := l.render(t0.Add(40*time.Millisecond), 200), "⠋ IN_QUEUE     queued 40ms  job j"; got != want {
		t.Errorf("accepted, no status yet:\n got %q\nwant %q", got, want)
	}
	l.observe(&client.JobStatus{ID: "j", Status: client.StatusInQueue, Waiting: &client.Waiting{
		Reason: "NO_WORKERS", Message: "no worker is connected; connect one with `sluice worker-env ep`"}}, t0.Add(time.Second))
	want := "⠋ IN_QUEUE     queued 2.0s  job j  NO_WORKERS: no worker is connected; connect one with `sluice worker-env ep`"
	if got := l.render(t0.Add(2*time.Second), 200); got != want {
		t.Errorf("waiting:\n got %q\nwant %q", got, want)
	}
	l.observe(&client.JobStatus{ID: "j", Status: client.StatusInProgress, DelayTime: 2500}, t0.Add(3*time.Second))
	if got := l.render(t0.Add(3*time.Second), 200); strings.Contains(got, "NO_WORKERS") {
		t.Errorf("a running job still shows its waiting reason: %q", got)
	}
}

func TestLiveRenderWithoutServerTimes(t *testing.T) {
	// A server that sends no delayTime/executionTime: times come from the
	// local clock (first IN_PROGRESS seen).
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := liveState{jobID: "j", start: t0}
	l.observe(&client.JobStatus{ID: "j", Status: client.StatusInProgress}, t0.Add(3*time.Second))
	got := l.render(t0.Add(65*time.Second), 200)
	if want := "⠋ IN_PROGRESS  queued 3.0s  running 1m02s  job j"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLiveRenderZeroDelay(t *testing.T) {
	// delayTime 0 next to an executionTime is a job taken at once, not a
	// server without times.
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := liveState{start: t0}
	l.observe(&client.JobStatus{ID: "j", Status: client.StatusInProgress, ExecutionTime: 1000}, t0.Add(2*time.Second))
	got := l.render(t0.Add(2500*time.Millisecond), 200)
	if want := "⠴ IN_PROGRESS  queued 0ms  running 1.5s  job j"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                     "0ms",
		850 * time.Millisecond:           "850ms",
		3400 * time.Millisecond:          "3.4s",
		125 * time.Second:                "2m05s",
		time.Hour + 2*time.Minute + 59e9: "1h02m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
