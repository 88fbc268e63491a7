package server

import (
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
)

// TestAddExternal: workers the engine knows but the supervisor did not
// start (started by hand with worker-env) count in /health, as running when
// they hold a job and idle otherwise; the supervisor's own are not counted
// twice.
func TestAddExternal(t *testing.T) {
	own := map[string]bool{"ep-1": true}
	base := engine.WorkerCounts{Idle: 1, Ready: 1, Initializing: 1}
	got := addExternal(base, []engine.Worker{
		{ID: "ep-1", Jobs: []string{"j1"}},          // supervised: already in base
		{ID: "by-hand-a", Jobs: []string{"j2"}},     // external, busy
		{ID: "by-hand-b"},                           // external, idle
		{ID: "by-hand-c", Stopping: []string{"j3"}}, // external, still running a cancelled job
	}, func(id string) bool { return own[id] })
	want := engine.WorkerCounts{Idle: 2, Ready: 2, Initializing: 1, Running: 2}
	if got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
}
