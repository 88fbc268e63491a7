package engine

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// testIdempotency: the same key on one endpoint gives the same job, from
// concurrent submits, after a restart (embedded) and from another replica
// (cluster); the same key with another body hash is a mismatch.
func testIdempotency(t *testing.T, b *backend) {
	ep := newEndpoint()
	cfg := fastConfig(ep)
	e := b.open(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	keyed := func(key, hash string) func(*SubmitRequest) {
		return func(r *SubmitRequest) { r.IdempotencyKey, r.IdempotencyHash = key, hash }
	}
	first := submit(t, e, ep, `1`, keyed("k1", "h1"))
	if again := submit(t, e, ep, `1`, keyed("k1", "h1")); again.ID != first.ID {
		t.Fatalf("same key: job %s, then %s", first.ID, again.ID)
	}
	// One key space for /run and /runsync: a sync submit finds the job too.
	if again := submit(t, e, ep, `1`, keyed("k1", "h1"), func(r *SubmitRequest) { r.Sync = true }); again.ID != first.ID {
		t.Fatalf("same key from a sync submit: job %s, then %s", first.ID, again.ID)
	}
	if other := submit(t, e, ep, `1`, keyed("k2", "h1")); other.ID == first.ID {
		t.Fatalf("another key gave the same job %s", other.ID)
	}
	_, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`2`), IdempotencyKey: "k1", IdempotencyHash: "h2"})
	mustErr(t, err, ErrIdempotencyMismatch, "same key, other body")
	_, err = e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`2`), IdempotencyKey: strings.Repeat("k", MaxIdempotencyKey+1)})
	mustErr(t, err, ErrInvalid, "key too long")

	// Concurrent submits with one new key, on one engine and (cluster) two.
	engines := []*Engine{e}
	if b.multi {
		engines = append(engines, b.open(t, cfg))
	}
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			j, err := engines[i%len(engines)].Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`3`), IdempotencyKey: "race", IdempotencyHash: "h3"})
			if err != nil {
				t.Errorf("racing submit %d: %v", i, err)
				return
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing submits with one key made jobs %s and %s (submit %d)", ids[0], id, i)
		}
	}
	if b.multi {
		if j := submit(t, engines[1], ep, `1`, keyed("k1", "h1")); j.ID != first.ID {
			t.Fatalf("other replica: job %s, want %s", j.ID, first.ID)
		}
	}
	if b.dataDir != "" {
		noErr(t, e.Close())
		e2 := b.open(t, cfg)
		if j := submit(t, e2, ep, `1`, keyed("k1", "h1")); j.ID != first.ID {
			t.Fatalf("after a restart: job %s, want %s", j.ID, first.ID)
		}
		_, err := e2.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(`2`), IdempotencyKey: "k1", IdempotencyHash: "h2"})
		mustErr(t, err, ErrIdempotencyMismatch, "same key, other body, after a restart")
	}
}
