package api

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limiter limits client requests per key, endpoint and route.
// *ratelimit.Limiter implements it.
type Limiter interface {
	// Allow reports whether a request may go on, and if not how long until
	// one would.
	Allow(key, endpoint, route string) (bool, time.Duration)
}

// webhookCheckTimeout bounds the check of a submitted webhook (a DNS lookup).
const webhookCheckTimeout = 5 * time.Second

// checkWebhook runs the configured webhook check on a submitted URL.
func (h *Handler) checkWebhook(ctx context.Context, u string) error {
	if u == "" || h.cfg.WebhookCheck == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, webhookCheckTimeout)
	defer cancel()
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

// screen answers what ServeMux would answer with an HTML redirect: "." or
// ".." path segments (to the cleaned path; no id is "." or ".."). It
// reports whether the request may go on. (Errors net/http answers before
// any handler, such as 431, are made JSON by the server's listener.)
func screen(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.EscapedPath()
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") ||
			strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			writeError(w, http.StatusNotFound, "not found: "+strconv.Quote(truncate(path, 200))+" has a \".\" or \"..\" segment; no endpoint or job id is \".\" or \"..\"")
			return false
		}
	}
	return true
}

// shortNumber formats f for a message: as is when short, else in
// scientific notation (a 300-digit number is not echoed in full).
func shortNumber(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if len(s) > 20 {
		s = strconv.FormatFloat(f, 'g', 6, 64)
	}
	return s
}
