package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Jobs are the jobs whose views are pinned in testdata/; other packages'
// tests (the webhook sender, the client) read the same files.
func Jobs() map[string]*Job {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	started := created.Add(1500 * time.Millisecond)
	finished := started.Add(2250 * time.Millisecond)
	return map[string]*Job{
		"queued": {ID: "a1", Status: StatusInQueue, CreatedAt: created},
		"completed": {ID: "c1", Status: StatusCompleted, Output: json.RawMessage(`{"text":"hi"}`),
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"failed": {ID: "sync-f1", Status: StatusFailed, Error: json.RawMessage(`"boom"`),
			Retries: 2, WorkerID: "pod-2", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"failed_object": {ID: "f2", Status: StatusFailed, Error: json.RawMessage(`{"code":7}`),
			WorkerID: "pod-2", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"cancelled": {ID: "x1", Status: StatusCancelled, CreatedAt: created, FinishedAt: finished},
		"timed_out": {ID: "t1", Status: StatusTimedOut, Output: json.RawMessage(`null`),
			Error: json.RawMessage(`"execution timeout of 5s exceeded"`), WorkerID: "pod-3", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"stream_empty": {ID: "s1", Status: StatusCompleted, Output: json.RawMessage(`[]`), IsStream: true,
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"stream_aggregate": {ID: "s2", Status: StatusCompleted, Output: json.RawMessage(`[1,"two"]`), IsStream: true,
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"html": {ID: "h1", Status: StatusCompleted, Output: json.RawMessage(`"<a href='x'>&</a>"`),
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
	}
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got)
}

// TestViewsGolden pins the bytes of the /status and webhook bodies (one
// renderer), /stream, /health, /run and /purge-queue.
func TestViewsGolden(t *testing.T) {
	t.Parallel()
	for name, j := range Jobs() {
		golden(t, "status_"+name, encode(t, View(j)))
		golden(t, "webhook_"+name, encode(t, View(j)))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := &Job{ID: "s1", Status: StatusInProgress, IsStream: true, CreatedAt: created, StartedAt: created.Add(time.Second)}
	golden(t, "stream_chunks", encode(t, Stream(running, []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`{"b":1}`)})))
	queued := &Job{ID: "s0", Status: StatusInQueue, CreatedAt: created}
	golden(t, "stream_queued", encode(t, Stream(queued, nil)))
	failed := &Job{ID: "s3", Status: StatusFailed, Error: json.RawMessage(`"bad chunk"`), IsStream: true,
		CreatedAt: created, StartedAt: created.Add(time.Second), FinishedAt: created.Add(2 * time.Second)}
	golden(t, "stream_failed", encode(t, Stream(failed, nil)))
	golden(t, "health", encode(t, Health{
		Jobs:    JobCounts{Completed: 1, Failed: 2, InProgress: 3, InQueue: 4, Retried: 5},
		Workers: WorkerCounts{Idle: 1, Initializing: 2, Ready: 3, Running: 4, Throttled: 5, Unhealthy: 6},
	}))
	// The waiting extension: set by /status for IN_QUEUE jobs, and by /health while jobs wait.
	waiting := &Waiting{Reason: WaitNoWorkers, Message: "no worker is connected to echo and Sluice starts none (no command); connect one with `sluice worker-env echo`",
		Since: created.Add(2 * time.Second)}
	queuedView := View(Jobs()["queued"])
	queuedView.Waiting = waiting
	golden(t, "status_queued_waiting", encode(t, queuedView))
	golden(t, "health_waiting", encode(t, Health{Jobs: JobCounts{InQueue: 4}, Waiting: waiting}))
	golden(t, "submitted", encode(t, Submitted{ID: "a1", Status: StatusInQueue}))
	golden(t, "purge", encode(t, Purge{Removed: 3, Status: "completed"}))
	golden(t, "endpoints", encode(t, EndpointList{Endpoints: []EndpointInfo{{ID: "echo", Managed: true, WorkersMin: 1,
		WorkersMax: 3, Workers: 2, InQueue: 4, InProgress: 1, ExecutionTimeoutMs: 600000}}}))
}

// TestTruthyGolden pins Python truthiness of raw JSON values, and checks
// that TruthyValue judges the decoded Go value the same way.
func TestTruthyGolden(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	for _, v := range []string{``, `null`, `false`, `true`, `0`, `0.0`, `-0`, `1`, `1e-9`, `""`, `" "`, `"0"`, `"false"`, `[]`, `[ ]`, `[0]`, `{}`, `{ }`, `{"a":null}`, ` null `, `nul`, `{`} {
		got := Truthy(json.RawMessage(v))
		fmt.Fprintf(&out, "%-12s %v\n", v, got)
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			if TruthyValue(x) != got {
				t.Errorf("TruthyValue(%#v) = %v, Truthy(%s) = %v", x, !got, v, got)
			}
		}
	}
	golden(t, "truthy", out.Bytes())
	for v, want := range map[any]bool{int64(0): false, int64(2): true, uint8(0): false, 0.5: true, struct{}{}: false, struct{ A int }{}: true, make(chan int): true} {
		if got := TruthyValue(v); got != want {
			t.Errorf("TruthyValue(%#v) = %v, want %v", v, got, want)
		}
	}
}

func TestStatusTerminal(t *testing.T) {
	t.Parallel()
	for s, want := range map[Status]bool{StatusInQueue: false, StatusInProgress: false, StatusCompleted: true,
		StatusFailed: true, StatusCancelled: true, StatusTimedOut: true, "RUNNING": false} {
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", s, !want)
		}
	}
}

func TestWorkerEnvGolden(t *testing.T) {
	t.Parallel()
	env := WorkerEnv{BaseURL: "http://127.0.0.1:8080", Endpoint: "echo", Key: "k", WorkerID: "w-1", PingIntervalMs: 10000}.Environ()
	var out bytes.Buffer
	for _, kv := range env {
		out.WriteString(kv + "\n")
	}
	golden(t, "worker_env", out.Bytes())
}

func TestTruthyValue(t *testing.T) {
	t.Parallel()
	falsy := []any{nil, false, "", 0, 0.0, int64(0), uint8(0), json.Number("0"), json.Number("-0.0"),
		[]any{}, []int{}, map[string]any{}, map[string]int{}, (*int)(nil), json.RawMessage(`0`), json.RawMessage(`""`), struct{}{}}
	for _, v := range falsy {
		if TruthyValue(v) {
			t.Errorf("TruthyValue(%#v) = true, want false", v)
		}
	}
	one := 1
	truthyValues := []any{true, "x", 1, -1.5, json.Number("1e-9"), []any{nil}, map[string]any{"": nil}, struct{ X int }{}, &one, json.RawMessage(`[0]`)}
	for _, v := range truthyValues {
		if !TruthyValue(v) {
			t.Errorf("TruthyValue(%#v) = false, want true", v)
		}
	}
}
