package config

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/netguard"
)

// Webhooks restricts where the server sends webhooks.
type Webhooks struct {
	// Allow opens webhook targets that are refused by default (loopback,
	// link-local, private, reserved and the server's own addresses): CIDRs
	// ("10.0.0.0/8"), addresses and host names ("hooks.internal"). Default:
	// none.
	Allow []string `yaml:"allow"`
}

// RateLimit is a token bucket: PerSecond requests a second on average, up
// to Burst at once.
type RateLimit struct {
	// PerSecond is the sustained rate, more than 0.
	PerSecond float64 `yaml:"perSecond"`
	// Burst is the bucket size. Default: PerSecond rounded up (at least 1).
	Burst int `yaml:"burst"`
}

// RateLimits maps a client route (see RateLimitRoutes) to its limit, per
// API key. "*" applies to every client route without a limit of its own.
type RateLimits map[string]RateLimit

// RateLimitRoutes are the keys a RateLimits map may use. "status" covers
// status and status-sync (and the job listing), "openai" the
// OpenAI-compatible routes, "lb" the requests of load-balancing endpoints.
var RateLimitRoutes = []string{"run", "runsync", "status", "stream", "cancel", "retry", "purge-queue", "health", "openai", "lb", "*"}

// Defaults of the worker-safety settings.
const (
	DefaultStopGraceSeconds = 30
	maxStopGraceSeconds     = 3600
	maxCrashLoopFailAfter   = 1000
)

// rateLimits checks and defaults a rateLimits map.
func (v *validator) rateLimits(field string, m RateLimits) RateLimits {
	if len(m) == 0 {
		return nil
	}
	out := make(RateLimits, len(m))
	for route, l := range m {
		f := field + "." + route
		if !slices.Contains(RateLimitRoutes, route) {
			v.fail(f, "%q is not a client route: use one of %s", route, strings.Join(RateLimitRoutes, ", "))
			continue
		}
		if !(l.PerSecond > 0) || math.IsInf(l.PerSecond, 0) || l.PerSecond > 1e6 {
			v.fail(f+".perSecond", "%v is not a rate between 0 (exclusive) and 1000000", l.PerSecond)
		}
		if l.Burst < 0 || l.Burst > 1_000_000 {
			v.fail(f+".burst", "%d is not between 1 and 1000000", l.Burst)
		}
		if l.Burst == 0 {
			l.Burst = max(1, int(math.Ceil(min(l.PerSecond, 1e6))))
		}
		out[route] = l
	}
	return out
}

// webhooks checks the webhooks section.
func (v *validator) webhooks(w Webhooks) Webhooks {
	for i, a := range w.Allow {
		if err := netguard.ValidateAllow([]string{a}); err != nil {
			v.fail(fmt.Sprintf("webhooks.allow[%d]", i), "%v", err)
		}
	}
	return w
}

// safety checks and defaults an endpoint's stopGraceSeconds and crashLoopFailAfter.
func (v *validator) safety(at func(string) string, r *rawEndpoint, ep *Endpoint) {
	ep.StopGraceSeconds = intOr(r.StopGraceSeconds, DefaultStopGraceSeconds)
	if ep.StopGraceSeconds < 1 || ep.StopGraceSeconds > maxStopGraceSeconds {
		v.fail(at("stopGraceSeconds"), "%d is not between 1 and %d", ep.StopGraceSeconds, maxStopGraceSeconds)
	}
	ep.CrashLoopFailAfter = intOr(r.CrashLoopFailAfter, 0)
	if ep.CrashLoopFailAfter < 0 || ep.CrashLoopFailAfter > maxCrashLoopFailAfter {
		v.fail(at("crashLoopFailAfter"), "%d is not between 0 (off) and %d", ep.CrashLoopFailAfter, maxCrashLoopFailAfter)
	}
	ep.RateLimits = v.rateLimits(at("rateLimits"), r.RateLimits)
}
