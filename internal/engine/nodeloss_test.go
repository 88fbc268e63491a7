package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestClusterNodeLoss shuts down one node of the 3-node cluster with jobs
// queued and in progress: every accepted job still completes.
func TestClusterNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	url, servers := startClusterServers(t)
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.WorkerLostAfter = 5 * time.Second
	e := clusterBackend(url).open(t, cfg)
	ctx := ctxT(t, 120*time.Second)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, e, ep, "w")

	var ids []string
	for i := range 20 {
		ids = append(ids, must(e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(fmt.Sprint(i))})).ID)
	}
	held := must(e.Take(ctx, ep, "w", 5))
	if len(held) == 0 {
		t.Fatal("nothing taken")
	}
	servers[0].Shutdown()
	servers[0].WaitForShutdown()

	// After fail-over the engine works again; jobs submitted now count too.
	waitFor(t, 60*time.Second, "a submit after losing a node", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		j, err := e.Submit(sctx, ep, SubmitRequest{Input: json.RawMessage(`"after"`)})
		if err == nil {
			ids = append(ids, j.ID)
		}
		return err == nil
	})
	for _, j := range held {
		waitFor(t, 30*time.Second, "finish of a held job", func() bool {
			fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return e.Finish(fctx, ep, "w", j.ID, Result{Output: json.RawMessage(`"held"`)}) == nil
		})
	}
	done := map[string]bool{}
	for _, j := range held {
		done[j.ID] = true
	}
	waitFor(t, 60*time.Second, "every job completed", func() bool {
		jobs, err := e.Take(ctxT(t, 500*time.Millisecond), ep, "w", 10)
		if err != nil {
			t.Logf("take during fail-over: %v", err)
			return false
		}
		for _, j := range jobs {
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := e.Finish(fctx, ep, "w", j.ID, Result{Output: json.RawMessage(`"ok"`)})
			cancel()
			if err != nil {
				t.Logf("finish during fail-over: %v", err)
				_ = e.release(ctx, ep, j.ID, "w")
				continue
			}
			done[j.ID] = true
		}
		return len(done) == len(ids)
	})
	for _, id := range ids {
		if s := must(e.Get(ctx, ep, id)).Status; s != StatusCompleted {
			t.Fatalf("job %s: %s", id, s)
		}
	}
}

// TestExternalSingleServer runs against one external (non-clustered) NATS
// server on 127.0.0.1: the default replica count adapts to it.
func TestExternalSingleServer(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("server not ready")
	}
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.NATSURL = s.ClientURL()
	e := openEngine(t, cfg)
	if e.cfg.Replicas != 1 {
		t.Fatalf("replicas %d, want 1", e.cfg.Replicas)
	}
	ctx := ctxT(t, 30*time.Second)
	j := must(e.Submit(ctx, ep, SubmitRequest{Input: bigJSON(3 << 20)}))
	tj := must(e.Take(ctx, ep, "w", 1))
	if len(tj) != 1 || tj[0].ID != j.ID || len(tj[0].Input) != 3<<20 {
		t.Fatalf("take: %d jobs", len(tj))
	}
	noErr(t, e.Finish(ctx, ep, "w", j.ID, Result{Output: json.RawMessage(`1`)}))
	if g := must(e.Wait(ctx, ep, j.ID)); g.Status != StatusCompleted {
		t.Fatalf("status %s", g.Status)
	}
}
