package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// errorBody is a JSON error, as the API writes them.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// proxy hands /console/api/v2/... to the API as /v2/... with the session's
// key in Authorization (and no cookie), after the console's own checks.
// Streams (SSE logs) pass through: w is the caller's writer.
func (c *Console) proxy(w http.ResponseWriter, r *http.Request) {
	key, aerr := c.authorize(r)
	if aerr != nil {
		writeJSON(w, aerr.code, errorBody{aerr.msg})
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, apiPrefix)
	r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, apiPrefix)
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Cookie")
	r2.Header.Del(headerCSRF)
	r2.Header.Del("Authorization")
	if key != "" {
		r2.Header.Set("Authorization", "Bearer "+key)
	}
	c.cfg.API.ServeHTTP(w, r2)
}

// recorder is an in-memory http.ResponseWriter for calls the console
// makes to the API itself.
type recorder struct {
	code int
	hdr  http.Header
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.hdr }

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// call sends one request to the API with key ("" for none) and returns its
// status and body.
func (c *Console) call(ctx context.Context, key, method, path string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return http.StatusBadRequest, nil
	}
	req.RemoteAddr = "127.0.0.1:0"
	req.RequestURI = path
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := &recorder{hdr: http.Header{}}
	c.cfg.Internal.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec.code, rec.body.Bytes()
}

// settings serves an endpoint's scaler settings to a session that may see
// the endpoint (the API's /health answers it).
func (c *Console) settings(w http.ResponseWriter, r *http.Request) {
	key, aerr := c.authorize(r)
	if aerr != nil {
		writeJSON(w, aerr.code, errorBody{aerr.msg})
		return
	}
	ep := r.PathValue("ep")
	if code, body := c.call(r.Context(), key, http.MethodGet, "/v2/"+escapeSegment(ep)+"/health"); code != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	var s any
	ok := false
	if c.cfg.Settings != nil {
		s, ok = c.cfg.Settings(ep)
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{"no settings for endpoint " + ep})
		return
	}
	writeJSON(w, http.StatusOK, s)
}
