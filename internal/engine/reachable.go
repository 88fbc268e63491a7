package engine

import (
	"context"
	"fmt"
)

// Reachable reports whether the engine can use JetStream right now: it sends
// one cheap request (account info) bounded by ctx. It returns ErrClosed once
// Close was called.
func (e *Engine) Reachable(ctx context.Context) error {
	if e.closed() {
		return ErrClosed
	}
	if _, err := e.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account info: %w", err)
	}
	return nil
}
