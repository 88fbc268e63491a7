package ratelimit

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// clock is a manual clock for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterPerKeyEndpointAndRoute(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(
		config.RateLimits{"run": {PerSecond: 1, Burst: 2}, Any: {PerSecond: 100, Burst: 3}},
		map[string]config.RateLimits{"vip": {"run": {PerSecond: 10, Burst: 5}}},
	)
	l.now = c.now
	take := func(key, ep, route string) bool { ok, _ := l.Allow(key, ep, route); return ok }

	for i := range 2 {
		if !take("k1", "a", "run") {
			t.Fatalf("run %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("k1", "a", "run")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third run: ok=%v wait=%s, want refused with a wait up to 1s", ok, wait)
	}
	if !take("k2", "a", "run") || !take("k1", "b", "run") {
		t.Fatal("another key or endpoint shares k1's bucket on a")
	}
	for i := range 3 {
		if !take("k1", "a", "status") {
			t.Fatalf("status %d refused: the * limit (burst 3) applies per route", i)
		}
	}
	if take("k1", "a", "status") {
		t.Fatal("fourth status allowed past the * burst")
	}
	for i := range 5 {
		if !take("k1", "vip", "run") {
			t.Fatalf("vip run %d refused: the endpoint's override has burst 5", i)
		}
	}
	c.t = c.t.Add(time.Second)
	if !take("k1", "a", "run") {
		t.Fatal("a token did not come back after 1 s at 1/s")
	}
	l.Set(nil, nil)
	for range 10 {
		if !take("k1", "a", "run") {
			t.Fatal("limited after the limits were removed")
		}
	}
}

func TestLimiterDropsIdleBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(config.RateLimits{Any: {PerSecond: 1, Burst: 1}}, nil)
	l.now = c.now
	for i := range maxIdleBuckets + 10 {
		l.Allow(string(rune('a'+i%26))+time.Duration(i).String(), "ep", "run")
		c.t = c.t.Add(time.Second) // every earlier bucket is full again
	}
	if n := len(l.buckets); n > maxIdleBuckets {
		t.Fatalf("%d buckets kept, want at most %d", n, maxIdleBuckets)
	}
}
