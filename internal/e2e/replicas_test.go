package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestReplicas runs two `sluice serve` replicas on one external NATS
// server (--nats-url) with a shared config: a worker connected to replica A
// runs jobs submitted to replica B, B answers /runsync and /status, and a
// cancel sent to B stops the handler running under A (job-stop); an
// Idempotency-Key used on A gives the same job on B.
func TestReplicas(t *testing.T) {
	a, b, cfg := twoReplicas(t)
	a.startWorker(t, "ep", "on-a", nil, "--config", cfg)

	r := b.do(t, "POST", "/v2/ep/runsync?wait=60000", ck, []byte(`{"input":{"echo":"via b"}}`))
	if m := r.json(t); m["status"] != "COMPLETED" || m["workerId"] != "on-a" {
		t.Errorf("runsync on b with the worker on a: %s", r.body)
	}
	r = a.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":"via a"}}`))
	id := r.json(t)["id"].(string)
	b.waitStatus(t, ck, "ep", id, 30*time.Second, "COMPLETED")

	dir := t.TempDir()
	started, stopped := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	r = b.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"sleep_ms":60000,"started":%q,"stopped":%q}}`, started, stopped))
	id = r.json(t)["id"].(string)
	testutil.WaitFor(t, 30*time.Second, "the handler under a to start", func() bool { return exists(started) })
	if r = b.do(t, "POST", "/v2/ep/cancel/"+id, ck, nil); r.code != 200 {
		t.Fatalf("cancel on b: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 40*time.Second, "the handler under a to be stopped by a cancel sent to b", func() bool { return exists(stopped) })
	if m := a.do(t, "GET", "/v2/ep/status/"+id, ck, nil).json(t); m["status"] != "CANCELLED" {
		t.Errorf("status on a after cancel on b: %v", m)
	}

	// One Idempotency-Key on both replicas: one job; another body is 422 on either.
	r = a.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":"once"}}`), "Idempotency-Key", "both-replicas")
	id = r.json(t)["id"].(string)
	if r = b.do(t, "POST", "/v2/ep/runsync?wait=60000", ck, []byte(`{"input": {"echo": "once"}}`), "Idempotency-Key", "both-replicas"); r.json(t)["id"] != id {
		t.Errorf("same key on b: %s, want job %s", r.body, id)
	}
	if r = b.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":"twice"}}`), "Idempotency-Key", "both-replicas"); r.code != 422 {
		t.Errorf("same key, other body on b: %d %s, want 422", r.code, r.body)
	}
}

// twoReplicas starts an external NATS server (JetStream) and two `sluice
// serve` replicas on it with one shared config (endpoint ep, a client key, a
// shared worker key), and returns them and the config's path.
func twoReplicas(t *testing.T) (a, b *server, cfg string) {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	dir := t.TempDir()
	cfg = filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("apiKeys: ["+clientKey+"]\nworkerKey: shared-worker-key\nendpoints:\n  - id: ep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--nats-url", ns.ClientURL()}
	a = startServer(t, "", filepath.Join(dir, "a"), []string{"SLUICE_API_KEYS="}, args...)
	b = startServer(t, "", filepath.Join(dir, "b"), []string{"SLUICE_API_KEYS="}, args...)
	return a, b, cfg
}
