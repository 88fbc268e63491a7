package testutil

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// The pause between two checks of a WaitFor condition starts at
// pollFirst and doubles up to pollLongest: a fast condition is seen at
// once, a slow one (an HTTP call, a process) is not checked in a hot loop.
const (
	pollFirst   = time.Millisecond
	pollLongest = 50 * time.Millisecond
)

// WaitFor polls cond until it holds, failing the test when within passes
// first. what names the condition in the failure.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := pollFirst
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pause) // the poll interval of a condition wait, not a wait for an outcome
		pause = min(2*pause, pollLongest)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NoErr fails the test now if err is not nil.
func NoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// Must returns v, and panics if err is not nil: for set-up calls whose
// failure is a broken test, usable outside the test goroutine.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
