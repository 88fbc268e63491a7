package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// TestWebhookSurvivesRestart: a webhook whose delivery is cut off by the
// engine closing is sent after the engine opens again on the same data.
func TestWebhookSurvivesRestart(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	first := make(chan struct{})
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body) // read first: the server notices a gone client only then
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			close(first)
			<-r.Context().Done() // held until the engine gives up (closes)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Errorf("webhook body %q: %v", raw, err)
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	defer srv.Close()

	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	ctx := ctxT(t, 60*time.Second)
	e1, err := Open(ctx, cfg)
	noErr(t, err)
	j := must(e1.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	if jobs := must(e1.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	noErr(t, e1.Finish(ctx, ep, "w1", j.ID, Result{Output: json.RawMessage(`{"v":1}`)}))
	select {
	case <-first:
	case <-ctx.Done():
		t.Fatal("the webhook was never tried")
	}
	noErr(t, e1.Close())

	openEngine(t, cfg)
	waitFor(t, 30*time.Second, "the webhook after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if m := bodies[0]; m["id"] != j.ID || m["status"] != "COMPLETED" || fmt.Sprint(m["output"]) != "map[v:1]" {
		t.Fatalf("webhook after restart: %v", m)
	}
}

// TestWebhookLargeOutput: a result too large to store in the delivery entry
// (over 64 KiB) reaches the webhook whole, rebuilt from the job's record.
func TestWebhookLargeOutput(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		select {
		case got <- raw:
		default:
		}
	}))
	defer srv.Close()
	e, ep, ctx := soloEngine(t)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	if jobs := must(e.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	big := strings.Repeat("x", 100<<10)
	out, _ := json.Marshal(map[string]string{"text": big})
	noErr(t, e.Finish(ctx, ep, "w1", j.ID, Result{Output: out}))
	var raw []byte
	select {
	case raw = <-got:
	case <-ctx.Done():
		t.Fatal("no webhook")
	}
	var m struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Output struct {
			Text string `json:"text"`
		} `json:"output"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.ID != j.ID || m.Status != "COMPLETED" || m.Output.Text != big {
		t.Fatalf("webhook of %d bytes: id %q status %q output of %d bytes (%v)", len(raw), m.ID, m.Status, len(m.Output.Text), err)
	}
}

// TestWebhookGivesUp: a webhook target that always fails gets the first try
// and WebhookRetries more, and then the delivery is dropped from the store.
func TestWebhookGivesUp(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	e, ep, ctx := soloEngine(t) // WebhookRetries 2 (the default), 20 ms apart
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	must(e.Cancel(ctx, ep, j.ID))
	waitFor(t, 20*time.Second, "three tries and the delivery dropped", func() bool {
		mu.Lock()
		n := calls
		mu.Unlock()
		info, err := e.hookStr.Info(context.Background())
		return err == nil && n >= 3 && info.State.Msgs == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d tries, want 3 (1 + WebhookRetries)", calls)
	}
}
