package api

import (
	"math"
	"net/http"
	"time"
)

// Refusal is why the client API turns a request away before its handler
// runs: a bad or missing key (401), an unknown endpoint (404) or a rate
// limit (429, with RetryAfter). Packages that serve other shapes of client
// routes on the same keys (internal/openai) render it in their own error
// format.
type Refusal struct {
	// Status is the HTTP status code.
	Status int
	// Message says what was wrong and what to do, fit for the client.
	Message string
	// RetryAfter is how long to wait before retrying; zero when retrying
	// the same request cannot help.
	RetryAfter time.Duration
}

// CheckClient runs the checks of a client route on r, a request for
// endpoint ep counted against rate-limit route (a name of
// config.RateLimitRoutes, or another name that the "*" limit covers): the
// key (Authorization: Bearer, the endpoint's keys honoured), the endpoint,
// then the rate limit. It returns nil when the request may go on.
func (h *Handler) CheckClient(r *http.Request, ep, route string) *Refusal {
	if msg := h.keys.Load().clientAllowed(ep, presentedKey(r)); msg != "" {
		return &Refusal{Status: http.StatusUnauthorized, Message: msg}
	}
	if _, ok := h.cfg.Engine.Endpoint(ep); !ok {
		return &Refusal{Status: http.StatusNotFound, Message: "endpoint " + quoteID(ep) + " not found; endpoints come from the config file (endpoints:)"}
	}
	if h.cfg.Limiter == nil || route == "" {
		return nil
	}
	if ok, wait := h.cfg.Limiter.Allow(rateKey(r), ep, route); !ok {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		return &Refusal{Status: http.StatusTooManyRequests, RetryAfter: time.Duration(secs) * time.Second,
			Message: "rate limit of endpoint " + ep + " exceeded for this key (the config's rateLimits \"*\" covers " + route + " routes); retry later"}
	}
	return nil
}

// Mount serves pattern (a ServeMux pattern with an {endpoint} wildcard, such
// as "/v2/{endpoint}/openai/{path...}") with handler, next to the /v2 routes
// and on the same listener. The handler does its own checks, e.g. with
// CheckClient. Call it before the server starts.
func (h *Handler) Mount(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
}
