package api

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Limiter limits client requests per key, endpoint and route.
// *ratelimit.Limiter implements it.
type Limiter interface {
	// Allow reports whether a request may go on, and if not how long until
	// one would.
	Allow(key, endpoint, route string) (bool, time.Duration)
}

// checkWebhook runs the configured webhook check on a submitted URL.
func (h *Handler) checkWebhook(ctx context.Context, u string) error {
	if u == "" || h.cfg.WebhookCheck == nil {
		return nil
	}
	if err := h.cfg.WebhookCheck(ctx, u); err != nil {
		return badRequest(`"webhook" %q: %v`, truncate(u, 200), err)
	}
	return nil
}

// rateKey is whom a client request is counted against: its key, or its
// address when the endpoint takes no key.
func rateKey(r *http.Request) string {
	if k := presentedKey(r); k != "" {
		return "key:" + k
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// allowRate answers 429 with Retry-After when the request is over its rate
// limit, and reports whether it may go on.
func (h *Handler) allowRate(w http.ResponseWriter, r *http.Request, ep, route string) bool {
	if h.cfg.Limiter == nil || route == "" {
		return true
	}
	ok, wait := h.cfg.Limiter.Allow(rateKey(r), ep, route)
	if ok {
		return true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "rate limit of "+route+" on endpoint "+ep+
		" exceeded for this key: retry after "+strconv.Itoa(secs)+" s (limits are set by rateLimits in the config)")
	return false
}
