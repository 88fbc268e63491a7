package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var epSeq atomic.Int64

func newEndpoint() string { return fmt.Sprintf("ep%d", epSeq.Add(1)) }

func fastConfig(eps ...string) engine.Config {
	cfg := engine.Config{PingInterval: 50 * time.Millisecond, ReaperInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	for _, ep := range eps {
		cfg.Endpoints = append(cfg.Endpoints, engine.EndpointSettings{ID: ep})
	}
	return cfg
}

// senderConfig retries 20 ms apart.
func senderConfig() Config {
	return Config{RetryDelay: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

func openEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, cfg)
	testutil.NoErr(t, err)
	t.Cleanup(func() { testutil.NoErr(t, e.Close()) })
	return e
}

// startSender starts a Sender on e, closed before e.
func startSender(t *testing.T, e *engine.Engine) *Sender {
	t.Helper()
	s, err := Start(context.Background(), e, senderConfig())
	testutil.NoErr(t, err)
	t.Cleanup(s.Close)
	return s
}

// soloEngine is an engine on its own data directory with a sender.
func soloEngine(t *testing.T) (*engine.Engine, string, context.Context) {
	t.Helper()
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	startSender(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return e, ep, ctx
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
	ctx := testutil.Context(t, 60*time.Second)
	e1, err := engine.Open(ctx, cfg)
	testutil.NoErr(t, err)
	s1, err := Start(ctx, e1, senderConfig())
	testutil.NoErr(t, err)
	testutil.NoErr(t, err)
	j := testutil.Must(e1.Submit(ctx, ep, engine.SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	if jobs := testutil.Must(e1.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	testutil.NoErr(t, e1.Finish(ctx, ep, "w1", j.ID, engine.Result{Output: json.RawMessage(`{"v":1}`)}))
	select {
	case <-first:
	case <-ctx.Done():
		t.Fatal("the webhook was never tried")
	}
	s1.Close()
	testutil.NoErr(t, e1.Close())

	startSender(t, openEngine(t, cfg))
	testutil.WaitFor(t, 30*time.Second, "the webhook after the restart", func() bool {
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
	j := testutil.Must(e.Submit(ctx, ep, engine.SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	if jobs := testutil.Must(e.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	big := strings.Repeat("x", 100<<10)
	out, _ := json.Marshal(map[string]string{"text": big})
	testutil.NoErr(t, e.Finish(ctx, ep, "w1", j.ID, engine.Result{Output: out}))
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
	e, ep, ctx := soloEngine(t) // Retries 2 (the default), 20 ms apart
	j := testutil.Must(e.Submit(ctx, ep, engine.SubmitRequest{Input: json.RawMessage(`{}`), Webhook: srv.URL}))
	testutil.Must(e.Cancel(ctx, ep, j.ID))
	testutil.WaitFor(t, 20*time.Second, "three tries and the delivery dropped", func() bool {
		mu.Lock()
		n := calls
		mu.Unlock()
		pending, err := e.PendingDeliveries(context.Background())
		return err == nil && n >= 3 && pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d tries, want 3 (1 + WebhookRetries)", calls)
	}
}

// outcomes is an Observer that keeps what it hears.
type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) WebhookDelivered(endpoint string, res Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, endpoint+":"+string(res))
}

func (o *outcomes) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// TestObserverHearsOutcomes: a failed try and the one that succeeds are
// reported with their endpoint, in order.
func TestObserverHearsOutcomes(t *testing.T) {
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first try fails
		}
	}))
	defer hook.Close()

	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	obs := &outcomes{}
	scfg := senderConfig()
	scfg.Observer = obs
	s, err := Start(context.Background(), e, scfg)
	testutil.NoErr(t, err)
	t.Cleanup(s.Close)
	ctx := testutil.Context(t, 30*time.Second)

	j := testutil.Must(e.Submit(ctx, ep, engine.SubmitRequest{Input: json.RawMessage(`{}`), Webhook: hook.URL}))
	if jobs := testutil.Must(e.Take(ctx, ep, "w1", 1)); len(jobs) != 1 {
		t.Fatalf("take: %d jobs", len(jobs))
	}
	testutil.NoErr(t, e.Finish(ctx, ep, "w1", j.ID, engine.Result{Output: json.RawMessage(`"ok"`)}))
	want := []string{ep + ":retrying", ep + ":delivered"}
	testutil.WaitFor(t, 10*time.Second, "two webhook outcomes", func() bool { return len(obs.list()) >= 2 })
	if got := obs.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}
