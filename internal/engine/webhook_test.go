package engine

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestWebhookPayloadGolden pins the default webhook body for each terminal state.
func TestWebhookPayloadGolden(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	started := created.Add(1500 * time.Millisecond)
	finished := started.Add(2250 * time.Millisecond)
	cases := map[string]*Job{
		"completed": {ID: "0c3a4f4e-8a4e-4f7b-9a43-1f2b3c4d5e6f", Status: StatusCompleted, Output: json.RawMessage(`{"text":"hi"}`),
			WorkerID: "pod-1", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"failed": {ID: "sync-1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5", Status: StatusFailed, Error: json.RawMessage(`"boom"`),
			Retries: 2, WorkerID: "pod-2", CreatedAt: created, StartedAt: started, FinishedAt: finished},
		"cancelled": {ID: "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910", Status: StatusCancelled, CreatedAt: created, FinishedAt: finished},
		"timed_out": {ID: "11111111-2222-4333-8444-555555555555", Status: StatusTimedOut, Output: json.RawMessage(`null`),
			Error: json.RawMessage(`"execution timeout of 5s exceeded"`), WorkerID: "pod-3", CreatedAt: created, StartedAt: started, FinishedAt: finished},
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := WebhookPayload(j)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			buf.WriteByte('\n')
			testutil.Golden(t, "webhook_"+name, buf.Bytes())
		})
	}
}
