package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// hookRecorder is a webhook receiver on loopback that records each POST.
type hookRecorder struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	got      []wireStatus
	raw      [][]byte
	attempts int
	arrived  chan struct{}
}

// newHookRecorder starts a receiver. answer picks the HTTP status for the
// n-th attempt (from 1); nil always answers 200.
func newHookRecorder(t *testing.T, answer func(n int) int) *hookRecorder {
	h := &hookRecorder{t: t, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("webhook read: %v", err)
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook %s with Content-Type %q, want POST application/json", r.Method, r.Header.Get("Content-Type"))
		}
		h.mu.Lock()
		h.attempts++
		n := h.attempts
		h.mu.Unlock()
		code := http.StatusOK
		if answer != nil {
			code = answer(n)
		}
		if code == http.StatusOK {
			var s wireStatus
			if err := json.Unmarshal(body, &s); err != nil {
				t.Errorf("webhook body %s: %v", body, err)
			}
			h.mu.Lock()
			h.got, h.raw = append(h.got, s), append(h.raw, body)
			h.mu.Unlock()
		}
		w.WriteHeader(code)
		h.arrived <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

// wait returns the first n deliveries, failing the test after 10 s.
func (h *hookRecorder) wait(n int) []wireStatus {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		if len(h.got) >= n {
			got := append([]wireStatus(nil), h.got[:n]...)
			h.mu.Unlock()
			return got
		}
		h.mu.Unlock()
		select {
		case <-h.arrived:
		case <-deadline:
			h.t.Fatalf("webhook: %d deliveries before the deadline, want %d", len(h.got), n)
		}
	}
}

func TestLocalAPIWebhookOnTerminalStates(t *testing.T) {
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		var in struct {
			Fail bool `json:"fail"`
		}
		if err := job.Decode(&in); err != nil {
			return nil, err
		}
		if in.Fail {
			return map[string]any{"error": "asked to fail"}, nil
		}
		return map[string]any{"ok": true}, nil
	}}
	s := startLocalAPI(t, cfg, 1, nil)

	for _, c := range []struct {
		path, input string
		status      wire.Status
	}{
		{"/run", `{"fail":false}`, wire.StatusCompleted},
		{"/v2/ep/runsync", `{"fail":false}`, wire.StatusCompleted},
		{"/run", `{"fail":true}`, wire.StatusFailed},
	} {
		t.Run(c.path+" "+string(c.status), func(t *testing.T) {
			hook := newHookRecorder(t, nil)
			run := s.call("POST", c.path, fmt.Sprintf(`{"input":%s,"webhook":%q}`, c.input, hook.url))
			got := hook.wait(1)[0]
			status := s.waitStatus("/status/"+run.ID, func(w wireStatus) bool { return w.Status.Terminal() })
			if got.ID != run.ID || got.Status != c.status {
				t.Errorf("webhook %+v, want %s for %s", got, c.status, run.ID)
			}
			// The payload is what /status returns.
			if string(got.Output) != string(status.Output) || string(got.Error) != string(status.Error) ||
				got.ExecutionTime == nil || got.DelayTime == nil {
				t.Errorf("webhook %+v differs from /status %+v", got, status)
			}
		})
	}
}

func TestLocalAPIWebhookRetries(t *testing.T) {
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) { return "x", nil }}
	s := startLocalAPI(t, cfg, 1, nil)

	// Fails twice, then accepts: delivered on the third and last try.
	hook := newHookRecorder(t, func(n int) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s.call("POST", "/run", fmt.Sprintf(`{"input":1,"webhook":%q}`, hook.url))
	if got := hook.wait(1)[0]; got.Status != wire.StatusCompleted {
		t.Errorf("delivered %+v", got)
	}
	hook.mu.Lock()
	if hook.attempts != 3 {
		t.Errorf("%d attempts, want 3", hook.attempts)
	}
	hook.mu.Unlock()
}

func TestLocalAPIWebhookGivesUpAfterThreeTries(t *testing.T) {
	a := newLocalAPI(&Config{}, testLog(t), 1)
	a.webhookBackoff = time.Millisecond
	hook := newHookRecorder(t, func(int) int { return http.StatusServiceUnavailable })
	err := a.sendWebhook(context.Background(), hook.url, []byte(`{}`))
	if err == nil {
		t.Fatal("sendWebhook to a failing receiver returned nil")
	}
	hook.mu.Lock()
	if hook.attempts != 3 {
		t.Errorf("%d attempts, want 3", hook.attempts)
	}
	hook.mu.Unlock()
	a.client.CloseIdleConnections()

	// A cancelled ctx stops the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.sendWebhook(ctx, hook.url, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("sendWebhook with a cancelled ctx: %v, want context.Canceled", err)
	}
}
