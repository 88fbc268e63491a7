package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// wireJobs are the jobs whose views are pinned in internal/wire/testdata.
func wireJobs() map[string]*engine.Job {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	started := created.Add(1500 * time.Millisecond)
	finished := started.Add(2250 * time.Millisecond)
	return map[string]*engine.Job{
		"queued": {ID: "a1", Status: engine.StatusInQueue, CreatedAt: created},
		"completed": {ID: "c1", Status: engine.StatusCompleted, Output: json.RawMessage(`{"text":"hi"}`),
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"failed": {ID: "sync-f1", Status: engine.StatusFailed, Error: json.RawMessage(`"boom"`),
			Retries: 2, WorkerID: "pod-2", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"failed_object": {ID: "f2", Status: engine.StatusFailed, Error: json.RawMessage(`{"code":7}`),
			WorkerID: "pod-2", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"cancelled": {ID: "x1", Status: engine.StatusCancelled, CreatedAt: created, FinishedAt: finished},
		"timed_out": {ID: "t1", Status: engine.StatusTimedOut, Output: json.RawMessage(`null`),
			Error: json.RawMessage(`"execution timeout of 5s exceeded"`), WorkerID: "pod-3", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"stream_empty": {ID: "s1", Status: engine.StatusCompleted, Output: json.RawMessage(`[]`), IsStream: true,
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"stream_aggregate": {ID: "s2", Status: engine.StatusCompleted, Output: json.RawMessage(`[1,"two"]`), IsStream: true,
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"html": {ID: "h1", Status: engine.StatusCompleted, Output: json.RawMessage(`"<a href='x'>&</a>"`),
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
	}
}

// encodeWire is v as the API writes it (writeJSON's encoding).
func encodeWire(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func wireGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "wire", "testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test -update writes it): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s moved\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// TestWireViewsGolden pins the bytes of /status, webhook, /stream and
// /health bodies as the server renders them.
func TestWireViewsGolden(t *testing.T) {
	for name, j := range wireJobs() {
		wireGolden(t, "status_"+name, encodeWire(t, ViewOf(j)))
		body, err := engine.WebhookPayload(j)
		if err != nil {
			t.Fatal(err)
		}
		wireGolden(t, "webhook_"+name, append(body, '\n'))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := &engine.Job{ID: "s1", Status: engine.StatusInProgress, IsStream: true, CreatedAt: created, StartedAt: created.Add(time.Second)}
	wireGolden(t, "stream_chunks", encodeWire(t, streamViewOf(running, []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`{"b":1}`)})))
	queued := &engine.Job{ID: "s0", Status: engine.StatusInQueue, CreatedAt: created}
	wireGolden(t, "stream_queued", encodeWire(t, streamViewOf(queued, nil)))
	failed := &engine.Job{ID: "s3", Status: engine.StatusFailed, Error: json.RawMessage(`"bad chunk"`), IsStream: true,
		CreatedAt: created, StartedAt: created.Add(time.Second), FinishedAt: created.Add(2 * time.Second)}
	wireGolden(t, "stream_failed", encodeWire(t, streamViewOf(failed, nil)))
	wireGolden(t, "health", encodeWire(t, engine.Health{
		Jobs:    engine.JobCounts{Completed: 1, Failed: 2, InProgress: 3, InQueue: 4, Retried: 5},
		Workers: engine.WorkerCounts{Idle: 1, Initializing: 2, Ready: 3, Running: 4, Throttled: 5, Unhealthy: 6},
	}))
	wireGolden(t, "submitted", encodeWire(t, SubmittedView{ID: "a1", Status: engine.StatusInQueue}))
	var truthy bytes.Buffer
	for _, v := range []string{``, `null`, `false`, `true`, `0`, `0.0`, `-0`, `1`, `1e-9`, `""`, `" "`, `"0"`, `"false"`, `[]`, `[ ]`, `[0]`, `{}`, `{ }`, `{"a":null}`, ` null `, `nul`, `{`} {
		fmt.Fprintf(&truthy, "%-12s %v\n", v, engine.Truthy(json.RawMessage(v)))
	}
	wireGolden(t, "truthy", truthy.Bytes())
	wireGolden(t, "purge", encodeWire(t, PurgeView{Removed: 3, Status: "completed"}))
}
