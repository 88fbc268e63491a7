package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Keys are the API keys the handlers accept.
//
// A client request to endpoint E is accepted when its key is in Client or in
// EndpointClient[E]. When both are empty for E the client API of E is open:
// requests are accepted with or without a key (the server then listens on
// loopback only). A worker key is never accepted on the client API.
//
// A worker request to endpoint E is accepted only with Worker[E], sent raw
// in Authorization as runpod-python does ("Bearer " is tolerated).
type Keys struct {
	// Client keys open the client API of every endpoint.
	Client []string
	// EndpointClient keys open the client API of one endpoint.
	EndpointClient map[string][]string
	// Worker maps an endpoint id to the one key its workers use.
	Worker map[string]string
	// Previous are earlier worker keys of an endpoint, from before a config
	// reload changed its key. They open every worker route of the endpoint
	// but job-take and job-take-batch: a worker started with one finishes
	// (and reports) the jobs it holds, but takes no new one.
	Previous map[string][]string
}

// Open reports whether endpoint's client API accepts requests without a key.
func (k Keys) Open(endpoint string) bool {
	return len(k.Client) == 0 && len(k.EndpointClient[endpoint]) == 0
}

// presentedKey is the key in r's Authorization header: "Bearer <key>" or the
// bare key.
func presentedKey(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

func keyIn(key string, keys []string) bool {
	found := 0
	for _, k := range keys {
		if k != "" {
			found |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
		}
	}
	return found == 1
}

func (k Keys) isWorkerKey(key string) bool {
	found := 0
	for _, wk := range k.Worker {
		if wk != "" {
			found |= subtle.ConstantTimeCompare([]byte(key), []byte(wk))
		}
	}
	for _, old := range k.Previous {
		if keyIn(key, old) {
			found = 1
		}
	}
	return found == 1
}

// adminAllowed checks the key of an admin request (POST /v2/admin/reload)
// and returns the message for a 401, or "" when the request may go on. It
// takes a key that opens every endpoint: one of Client. With no client key
// configured at all the server listens on loopback only and admin routes
// are open, like the client API.
func (k Keys) adminAllowed(key string) string {
	if key != "" && k.isWorkerKey(key) {
		return "this is a worker key: admin routes take a client API key from the config's top-level apiKeys or SLUICE_API_KEYS"
	}
	if len(k.Client) == 0 {
		for _, keys := range k.EndpointClient {
			if len(keys) > 0 {
				return "admin routes take a key that opens every endpoint, and none is configured: add one to the config's top-level apiKeys or SLUICE_API_KEYS (or reload with kill -HUP)"
			}
		}
		return ""
	}
	if key == "" {
		return "missing API key: admin routes take Authorization: Bearer <key> with a key from the config's top-level apiKeys or SLUICE_API_KEYS"
	}
	if keyIn(key, k.Client) {
		return ""
	}
	return "invalid API key for admin routes: they take a key from the config's top-level apiKeys or SLUICE_API_KEYS (a per-endpoint key opens only its endpoint)"
}

// clientAllowed checks a client request's key for endpoint and returns the
// message for a 401, or "" when the request may go on.
func (k Keys) clientAllowed(endpoint, key string) string {
	if key != "" && k.isWorkerKey(key) {
		return "this is a worker key: it opens only its endpoint's worker routes (job-take, job-done, ...), not the client API; use a client API key"
	}
	if k.Open(endpoint) {
		return ""
	}
	if key == "" {
		return "missing API key: send Authorization: Bearer <key> with one of the keys configured in apiKeys or SLUICE_API_KEYS"
	}
	if keyIn(key, k.Client) || keyIn(key, k.EndpointClient[endpoint]) {
		return ""
	}
	return "invalid API key for endpoint " + endpoint + ": send Authorization: Bearer <key> with one of the keys configured in apiKeys or SLUICE_API_KEYS"
}

// workerAllowed checks a worker request's key and returns the message for a
// 401, or "" when the request may go on. take says the route hands out jobs
// (job-take, job-take-batch): Previous keys do not open it.
func (k Keys) workerAllowed(endpoint, key string, take bool) string {
	want := k.Worker[endpoint]
	switch {
	case key == "":
		return "missing worker key: workers send RUNPOD_AI_API_KEY raw in Authorization; `sluice worker-env " + endpoint + "` prints it"
	case want != "" && subtle.ConstantTimeCompare([]byte(key), []byte(want)) == 1:
		return ""
	case !take && keyIn(key, k.Previous[endpoint]):
		return ""
	case keyIn(key, k.Previous[endpoint]):
		return "this worker key of endpoint " + endpoint + " was replaced by a config reload: it may still report the jobs it holds, but takes no new job; restart the worker with the environment `sluice worker-env " + endpoint + "` prints"
	}
	return "invalid worker key for endpoint " + endpoint + ": `sluice worker-env " + endpoint + "` prints the right RUNPOD_AI_API_KEY"
}

// clientAuth wraps a client route: key check, endpoint lookup, then the
// route's rate limit.
func (h *Handler) clientAuth(route string, f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ep := r.PathValue("endpoint")
		if msg := h.keys.Load().clientAllowed(ep, presentedKey(r)); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if _, ok := h.cfg.Engine.Endpoint(ep); !ok {
			writeError(w, http.StatusNotFound, "endpoint "+quoteID(ep)+" not found; endpoints come from the config file (endpoints:) or --endpoint")
			return
		}
		if !h.allowRate(w, r, ep, route) {
			return
		}
		f(w, r, ep)
	}
}

// workerAuth wraps a worker route: key check (a worker key is per
// endpoint), then endpoint lookup. take marks job-take and job-take-batch.
func (h *Handler) workerAuth(take bool, f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ep := r.PathValue("endpoint")
		if msg := h.keys.Load().workerAllowed(ep, presentedKey(r), take); msg != "" {
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if _, ok := h.cfg.Engine.Endpoint(ep); !ok {
			writeError(w, http.StatusNotFound, "endpoint "+quoteID(ep)+" not found")
			return
		}
		f(w, r, ep)
	}
}
