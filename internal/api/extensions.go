package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/sluicehq/sluice/internal/wire"
)

// Extensions are Sluice's additions to the /v2 API, served behind the same
// client auth. A nil field's route answers 404.
type Extensions struct {
	// Endpoints describes every endpoint, for GET /v2/endpoints. A caller
	// sees the endpoints its key opens.
	Endpoints func(ctx context.Context) []wire.EndpointInfo
	// Workers lists an endpoint's workers, for GET /v2/{endpoint}/workers,
	// answered as {"workers": [...]}.
	Workers func(ctx context.Context, endpoint string) (any, error)
	// Logs serves GET /v2/{endpoint}/logs.
	Logs http.Handler
	// Reload re-reads the server's config file and applies it, for
	// POST /v2/admin/reload, answered as {"reloaded": true, "changes": [...]}.
	// A *ReloadError (the config was refused; nothing changed) is answered
	// 400 with its message; any other error is logged and answered 500.
	Reload func(ctx context.Context) (changes []string, err error)
	// Metrics serves GET /metrics (Prometheus), to a key that opens every
	// endpoint, like the admin routes.
	Metrics http.Handler
	// LB serves /lb/{endpoint}/{path...}, any method: the requests of
	// load-balancing endpoints, behind the client API's key check and rate
	// limit (route "lb").
	LB func(w http.ResponseWriter, r *http.Request, endpoint string)
}

// ReloadError is a config reload the server refused: the file is invalid
// or breaks a rule, and the running config stays. Its message (which names
// the file, line and field when it can) is meant for the operator.
type ReloadError struct {
	Err error
}

func (e *ReloadError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ReloadError) Unwrap() error { return e.Err }

// ErrEndpointRemoved is returned by an Engine's Submit for an endpoint a
// config reload removed. It is answered 404 with its message.
var ErrEndpointRemoved = errors.New("this endpoint was removed from the config: it accepts no new jobs (jobs it accepted before stay readable by id)")

func (h *Handler) extensionRoutes() {
	ext := h.cfg.Extensions
	h.handle("/v2/endpoints", route{http.MethodGet: h.listEndpoints})
	h.handle("/v2/{endpoint}/workers", route{http.MethodGet: h.clientAuth("*", func(w http.ResponseWriter, r *http.Request, ep string) {
		if ext.Workers == nil {
			writeError(w, http.StatusNotFound, "this server does not list workers")
			return
		}
		ws, err := ext.Workers(r.Context(), ep)
		if err != nil {
			h.engineError(w, r, "workers of "+ep, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"workers": ws})
	})})
	h.handle("/v2/{endpoint}/logs", route{http.MethodGet: h.clientAuth("*", func(w http.ResponseWriter, r *http.Request, ep string) {
		if ext.Logs == nil {
			writeError(w, http.StatusNotFound, "this server keeps no worker logs")
			return
		}
		ext.Logs.ServeHTTP(w, r)
	})})
	lb := h.clientAuth("lb", func(w http.ResponseWriter, r *http.Request, ep string) {
		if ext.LB == nil {
			writeError(w, http.StatusNotFound, "this server has no load-balancing endpoints")
			return
		}
		ext.LB(w, r, ep)
	})
	h.mux.HandleFunc("/lb/{endpoint}/{path...}", lb)
	h.mux.HandleFunc("/lb/{endpoint}", lb)
	h.handle("/v2/admin/reload", route{http.MethodPost: h.adminAuth(h.reload)})
	h.handle("/metrics", route{http.MethodGet: h.adminAuth(h.metrics)})
}

// adminAuth lets through only requests with a key that opens every
// endpoint (see Keys.adminAllowed).
func (h *Handler) adminAuth(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg := h.keys.Load().adminAllowed(presentedKey(r)); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		f(w, r)
	}
}

// metrics serves the Prometheus metrics (they describe every endpoint, so
// behind adminAuth). A metrics listener of its own (--metrics-addr) serves
// them without a key.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Extensions.Metrics == nil {
		writeError(w, http.StatusNotFound, "this server exports no metrics")
		return
	}
	h.cfg.Extensions.Metrics.ServeHTTP(w, r)
}

// reload serves POST /v2/admin/reload (behind adminAuth).
func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Extensions.Reload == nil {
		writeError(w, http.StatusNotFound, "this server does not reload its config")
		return
	}
	if _, err := readBody(w, r, smallBodyLimit); err != nil {
		writeRequestError(w, err)
		return
	}
	changes, err := h.cfg.Extensions.Reload(r.Context())
	if err != nil {
		var re *ReloadError
		if errors.As(err, &re) {
			writeError(w, http.StatusBadRequest, "config reload refused, the running config stays: "+re.Error())
			return
		}
		h.engineError(w, r, "reload config", err)
		return
	}
	if changes == nil {
		changes = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "changes": changes})
}

func (h *Handler) listEndpoints(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Extensions.Endpoints == nil {
		writeError(w, http.StatusNotFound, "this server does not list endpoints")
		return
	}
	key, keys := presentedKey(r), h.keys.Load()
	all := h.cfg.Extensions.Endpoints(r.Context())
	out := make([]wire.EndpointInfo, 0, len(all))
	msg := ""
	for _, e := range all {
		if m := keys.clientAllowed(e.ID, key); m != "" {
			msg = m
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 && msg != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	writeJSON(w, http.StatusOK, wire.EndpointList{Endpoints: out})
}
