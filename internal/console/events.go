package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// maxIDLength bounds the ep and job parameters of the event stream.
const maxIDLength = 256

// escapeSegment escapes s as one path segment.
func escapeSegment(s string) string { return url.PathEscape(s) }

// endpointView is one endpoint on the overview: GET /v2/endpoints's entry
// and its /health.
type endpointView struct {
	Info   json.RawMessage `json:"info"`
	Health json.RawMessage `json:"health,omitempty"`
}

// events streams what the open page shows, as server-sent events, each
// sent when it changed: "endpoints" (every endpoint the session sees with
// its /health), "series" (the per-minute charts), and with ?ep= "workers"
// (that endpoint's /workers), with ?ep=&job= "job" (that job's detail).
// A comment line goes out every Heartbeat. The stream ends with the
// request (the server ends every request's context when it shuts down).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	key, aerr := c.authorize(r)
	if aerr != nil {
		writeJSON(w, aerr.code, errorBody{aerr.msg})
		return
	}
	q := r.URL.Query()
	ep, job := q.Get("ep"), q.Get("job")
	if len(ep) > maxIDLength || len(job) > maxIDLength || (job != "" && ep == "") {
		writeJSON(w, http.StatusBadRequest, errorBody{"ep and job must be at most 256 characters, and job needs ep"})
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	last := map[string][]byte{}
	send := func(event string, data []byte) error {
		if data == nil || bytes.Equal(last[event], data) {
			return nil
		}
		last[event] = data
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return fmt.Errorf("write %s event: %w", event, err)
		}
		return nil
	}
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	beat := time.NewTicker(c.cfg.Heartbeat)
	defer beat.Stop()
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	for {
		snap := c.snapshot(ctx, key, ep, job)
		for _, ev := range []string{"endpoints", "series", "workers", "job"} {
			if err := send(ev, snap[ev]); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
		}
	}
}

// snapshot reads the figures the event stream sends, through the API with
// key: JSON by event name (absent: nothing to send).
func (c *Console) snapshot(ctx context.Context, key, ep, job string) map[string][]byte {
	out := map[string][]byte{}
	code, body := c.call(ctx, key, http.MethodGet, "/v2/endpoints")
	if code != http.StatusOK {
		out["endpoints"], _ = json.Marshal(map[string]any{"error": string(bytes.TrimSpace(body)), "code": code})
		return out
	}
	var list struct {
		Endpoints []json.RawMessage `json:"endpoints"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return out
	}
	views := make([]endpointView, 0, len(list.Endpoints))
	ids := make([]string, 0, len(list.Endpoints))
	for _, raw := range list.Endpoints {
		var id struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &id) != nil {
			continue
		}
		v := endpointView{Info: raw}
		if code, hb := c.call(ctx, key, http.MethodGet, "/v2/"+escapeSegment(id.ID)+"/health"); code == http.StatusOK {
			v.Health = bytes.TrimSpace(hb)
		}
		views = append(views, v)
		ids = append(ids, id.ID)
	}
	out["endpoints"], _ = json.Marshal(map[string]any{"endpoints": views})
	if c.cfg.Series != nil {
		out["series"], _ = json.Marshal(c.cfg.Series.Snapshot(ids))
	}
	if ep != "" {
		if code, wb := c.call(ctx, key, http.MethodGet, "/v2/"+escapeSegment(ep)+"/workers"); code == http.StatusOK {
			out["workers"] = bytes.TrimSpace(wb)
		}
	}
	if job != "" {
		code, jb := c.call(ctx, key, http.MethodGet, "/v2/"+escapeSegment(ep)+"/jobs/"+escapeSegment(job))
		if code == http.StatusOK || code == http.StatusNotFound {
			out["job"], _ = json.Marshal(map[string]any{"code": code, "job": json.RawMessage(bytes.TrimSpace(jb))})
		}
	}
	return out
}
