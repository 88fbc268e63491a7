package server

import (
	"log/slog"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
)

// BenchmarkWaiting is the cost a /status of an IN_QUEUE job adds for its
// waiting reason, with the cache (one look per waitTTL) and without it (a
// look at the engine's workers every time), on an endpoint with one worker.
func BenchmarkWaiting(b *testing.B) {
	ctx := b.Context()
	eng, err := engine.Open(ctx, engine.Config{DataDir: b.TempDir(), Endpoints: []engine.EndpointSettings{{ID: "ep"}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
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
