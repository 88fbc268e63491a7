// Package ratelimit limits client API requests per key, endpoint and route
// with token buckets (golang.org/x/time/rate), as Runpod limits each user's
// requests per endpoint and operation.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/internal/config"
)

// Any is the route key that applies to every route without a limit of its own.
const Any = "*"

// maxIdleBuckets: past this many buckets, full (idle) ones are dropped.
const maxIdleBuckets = 10_000

type bucketKey struct{ key, endpoint, route string }

// Limiter decides whether a request may go on. The zero value is not
// usable; create one with New. Its methods are safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	top     config.RateLimits
	perEP   map[string]config.RateLimits
	buckets map[bucketKey]*rate.Limiter
	now     func() time.Time
}

// New returns a limiter with the file-wide limits top and per-endpoint
// overrides perEndpoint (either may be nil: no limit).
func New(top config.RateLimits, perEndpoint map[string]config.RateLimits) *Limiter {
	l := &Limiter{now: time.Now}
	l.Set(top, perEndpoint)
	return l
}

// Set replaces the limits (a config reload); buckets start full again.
func (l *Limiter) Set(top config.RateLimits, perEndpoint map[string]config.RateLimits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.top, l.perEP = top, perEndpoint
	l.buckets = map[bucketKey]*rate.Limiter{}
}

// limit finds route's limit on endpoint: the endpoint's own for the route,
// its "*", the file's for the route, the file's "*". Called with l.mu held.
func (l *Limiter) limit(endpoint, route string) (config.RateLimit, bool) {
	for _, m := range []config.RateLimits{l.perEP[endpoint], l.top} {
		if v, ok := m[route]; ok {
			return v, true
		}
		if v, ok := m[Any]; ok {
			return v, true
		}
	}
	return config.RateLimit{}, false
}

// Allow takes one token from the bucket of (key, endpoint, route). When the
// bucket is empty it returns false and how long until a token is there.
func (l *Limiter) Allow(key, endpoint, route string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limit(endpoint, route)
	if !ok {
		return true, 0
	}
	k := bucketKey{key, endpoint, route}
	b := l.buckets[k]
	now := l.now()
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.dropFull(now)
		}
		b = rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)
		l.buckets[k] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// dropFull forgets buckets that are full: a new bucket is the same.
// Called with l.mu held.
func (l *Limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
}
