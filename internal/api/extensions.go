package api

import (
	"context"
	"net/http"
)

// Extensions are Sluice's additions to the /v2 API, served behind the same
// client auth. A nil field's route answers 404.
type Extensions struct {
	// Endpoints describes every endpoint, for GET /v2/endpoints. A caller
	// sees the endpoints its key opens.
	Endpoints func(ctx context.Context) []EndpointInfo
	// Workers lists an endpoint's workers, for GET /v2/{endpoint}/workers,
	// answered as {"workers": [...]}.
	Workers func(ctx context.Context, endpoint string) (any, error)
	// Logs serves GET /v2/{endpoint}/logs.
	Logs http.Handler
}

// EndpointInfo is one row of GET /v2/endpoints.
type EndpointInfo struct {
	ID string `json:"id"`
	// Managed: Sluice starts this endpoint's workers itself.
	Managed    bool `json:"managed"`
	WorkersMin int  `json:"workersMin"`
	WorkersMax int  `json:"workersMax"`
	// Workers is the number of live workers; InQueue and InProgress count jobs.
	Workers            int   `json:"workers"`
	InQueue            int   `json:"inQueue"`
	InProgress         int   `json:"inProgress"`
	ExecutionTimeoutMs int64 `json:"executionTimeoutMs"`
}

func (h *Handler) extensionRoutes() {
	ext := h.cfg.Extensions
	h.handle("/v2/endpoints", route{http.MethodGet: h.listEndpoints})
	h.handle("/v2/{endpoint}/workers", route{http.MethodGet: h.clientAuth(func(w http.ResponseWriter, r *http.Request, ep string) {
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
	h.handle("/v2/{endpoint}/logs", route{http.MethodGet: h.clientAuth(func(w http.ResponseWriter, r *http.Request, ep string) {
		if ext.Logs == nil {
			writeError(w, http.StatusNotFound, "this server keeps no worker logs")
			return
		}
		ext.Logs.ServeHTTP(w, r)
	})})
}

func (h *Handler) listEndpoints(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Extensions.Endpoints == nil {
		writeError(w, http.StatusNotFound, "this server does not list endpoints")
		return
	}
	key := presentedKey(r)
	all := h.cfg.Extensions.Endpoints(r.Context())
	out := make([]EndpointInfo, 0, len(all))
	msg := ""
	for _, e := range all {
		if m := h.cfg.Keys.clientAllowed(e.ID, key); m != "" {
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
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}
