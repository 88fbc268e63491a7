package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWebhook: a job's webhook (and webhookV2, its alias) receives the
// job's /status body once it is terminal.
func TestWebhook(t *testing.T) {
	got := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && r.Method == http.MethodPost {
			got <- m
		}
	}))
	defer hook.Close()
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey}, "--endpoint", "ep")
	s.startWorker(t, "ep", "w1", nil)
	for _, field := range []string{"webhook", "webhookV2"} {
		body, _ := json.Marshal(map[string]any{"input": map[string]any{"echo": field}, field: hook.URL + "/hook"})
		r := s.do(t, "POST", "/v2/ep/run", ck, body)
		id := r.json(t)["id"].(string)
		select {
		case m := <-got:
			out, _ := m["output"].(map[string]any)
			if m["id"] != id || m["status"] != "COMPLETED" || out["echo"] != field {
				t.Errorf("%s payload: %v", field, m)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never called", field)
		}
	}
}
