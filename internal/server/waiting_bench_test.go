package server

import "testing"

// BenchmarkWaiting is the cost a /status of an IN_QUEUE job adds for its
// waiting reason, with the cache (one look per waitTTL) and without it (a
// look at the engine's workers every time), on an endpoint with one worker.
func BenchmarkWaiting(b *testing.B) {
	ctx := b.Context()
	eng := openEngine(b, "ep")
	if err := eng.Ping(ctx, "ep", "w1", nil); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		w    *waits
	}{{"cached", newWaits()}, {"uncached", &waits{eps: map[string]waitEntry{}}}} {
		b.Run(tc.name, func(b *testing.B) {
			h := hookedEngine{Engine: eng, waits: tc.w}
			for b.Loop() {
				if h.Waiting(ctx, "ep") == nil {
					b.Fatal("no waiting reason")
				}
			}
		})
	}
}
