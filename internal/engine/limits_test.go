package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMaxQueue: a submit over the endpoint's maxQueue is ErrQueueFull with
// a message naming the limit; the queued jobs are untouched, and once one is
// taken there is room again.
func TestMaxQueue(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig()
	cfg.Endpoints = []EndpointSettings{{ID: ep, MaxQueue: 3}}
	cfg.DataDir = t.TempDir()
	e := openEngine(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	var queued []*Job
	for i := range 3 {
		queued = append(queued, submit(t, e, ep, `1`))
		_ = i
	}
	_, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)})
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "maxQueue of 3") {
		t.Fatalf("submit over maxQueue: %v; want ErrQueueFull naming maxQueue of 3", err)
	}
	for _, j := range queued {
		if s := status(t, e, ep, j.ID); s != StatusInQueue {
			t.Fatalf("queued job %s: %s", j.ID, s)
		}
	}
	takeOne(t, e, ep, "w")
	waitFor(t, 10*time.Second, "room in the queue", func() bool {
		_, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`1`)})
		return err == nil
	})
}

// TestStorageFull: with a small store, submits fail with an error
// StorageFull and Unavailable report (the HTTP layer's 429/503) and nothing
// accepted is harmed; once expiry frees room, submits and a worker's result
// succeed again without a restart.
func TestStorageFull(t *testing.T) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	cfg.MaxStorage = 2 << 20
	e := openEngine(t, cfg)
	ctx := ctxT(t, time.Minute)
	held := submit(t, e, ep, `"held"`)
	takeOne(t, e, ep, "w")
	big := json.RawMessage(`"` + strings.Repeat("x", 32<<10) + `"`)
	var accepted []*Job
	var err error
	for range 1000 {
		var j *Job
		j, err = e.Submit(ctx, ep, SubmitRequest{Input: big, Policy: Policy{TTL: 3 * time.Second}})
		if err != nil {
			break
		}
		accepted = append(accepted, j)
	}
	if !StorageFull(err) || !Unavailable(err) {
		t.Fatalf("submit into a full store: %v (after %d jobs); want a storage-full error", err, len(accepted))
	}
	if len(accepted) == 0 {
		t.Fatal("no job fitted in the store")
	}
	t.Logf("full after %d jobs: %v", len(accepted), err)
	// Accepted jobs are all there while the store is full.
	for _, j := range accepted {
		if _, err := e.Get(ctx, ep, j.ID); err != nil {
			t.Fatalf("accepted job %s while full: %v", j.ID, err)
		}
	}
	// The short-lived jobs expire; room comes back without a restart.
	waitFor(t, 30*time.Second, "room in the store", func() bool {
		_, err := e.Submit(ctx, ep, SubmitRequest{Input: big})
		return err == nil
	})
	noErr(t, e.Finish(ctx, ep, "w", held.ID, Result{Output: json.RawMessage(`"done"`)}))
	if s := status(t, e, ep, held.ID); s != StatusCompleted {
		t.Fatalf("held job after recovery: %s", s)
	}
}

// TestDefaultMaxStorage: the default limit counts what the store already
// holds, so a store that grew is not over its limit at the next start.
func TestDefaultMaxStorage(t *testing.T) {
	dir := t.TempDir()
	empty := DefaultMaxStorage(dir)
	if empty < 1<<30 {
		t.Fatalf("default limit %d, want at least 1 GiB", empty)
	}
	if err := os.WriteFile(filepath.Join(dir, "blk"), make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	// Writing 8 MiB takes it from the free space and adds it to the store:
	// half of the sum stays the same (within what other writers changed).
	if got := DefaultMaxStorage(dir); got < empty-64<<20 || got > empty+64<<20 {
		t.Fatalf("default limit moved from %d to %d after the store grew", empty, got)
	}
	if got := DefaultMaxStorage(filepath.Join(dir, "not", "yet")); got < 1<<30 {
		t.Fatalf("default limit for a directory not made yet: %d", got)
	}
}
