package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// webhookConfig opens webhook targets on loopback (refused by default) for
// the endpoint "ep".
const webhookConfig = "webhooks:\n  allow: [127.0.0.0/8]\nendpoints:\n  - id: ep\n"

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
	s, cfg := serveConfig(t, webhookConfig, []string{"SLUICE_API_KEYS=" + clientKey})
	s.startWorker(t, "ep", "w1", nil, "--config", cfg)
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

// TestWebhookTargetsRefused: by default a webhook on loopback (by address
// or by a name resolving to it), a private, link-local (cloud metadata) or
// unspecified address is refused at submit with a 400 naming the setting
// that opens it; the server's own reload route is among them.
func TestWebhookTargetsRefused(t *testing.T) {
	var hits atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer hook.Close()
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey}, "--endpoint", "ep")
	port := hook.URL[strings.LastIndexByte(hook.URL, ':'):]
	for _, target := range []string{
		hook.URL + "/hook",
		"http://localhost" + port + "/hook",
		"http://[::1]" + port + "/hook",
		s.url + "/v2/admin/reload",
		"http://10.0.0.1/hook",
		"http://192.168.1.10:8080/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0" + port + "/",
	} {
		body, _ := json.Marshal(map[string]any{"input": map[string]any{}, "webhook": target})
		r := s.do(t, "POST", "/v2/ep/run", ck, body)
		msg, _ := r.json(t)["error"].(string)
		if r.code != http.StatusBadRequest || !strings.Contains(msg, "webhooks: {allow:") {
			t.Errorf("webhook %s: %d %s, want 400 naming webhooks.allow", target, r.code, r.body)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("a refused target was called %d times", hits.Load())
	}
}

// TestWebhookRedirectNotFollowed: with loopback allowed, a webhook target
// answering 307 is not followed (the body is not re-posted elsewhere); the
// 307 counts as a failed delivery and is tried again.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	var inner, outer atomic.Int32
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.Add(1) }))
	defer in.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer.Add(1)
		http.Redirect(w, r, in.URL+"/inner", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	s, cfg := serveConfig(t, webhookConfig, []string{"SLUICE_API_KEYS=" + clientKey})
	s.startWorker(t, "ep", "w1", nil, "--config", cfg)
	body, _ := json.Marshal(map[string]any{"input": map[string]any{"echo": 1}, "webhook": redirect.URL + "/hook"})
	if r := s.do(t, "POST", "/v2/ep/run", ck, body); r.code != http.StatusOK {
		t.Fatalf("run: %d %s", r.code, r.body)
	}
	// The second try starts only after the first returned: had the first
	// followed the 307, the inner server would have been called by then.
	testutil.WaitFor(t, 60*time.Second, "a second delivery try", func() bool { return outer.Load() >= 2 })
	if n := inner.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
}
