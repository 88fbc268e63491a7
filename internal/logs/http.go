package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP limits of Handler.
const (
	DefaultTail   = 100
	MaxTail       = 5000
	sseKeepAlive  = 15 * time.Second
	maxQueryValue = 256
)

// Handler serves GET /v2/{endpoint}/logs for the endpoints known reports.
// Mount it behind the client API's authentication, e.g.
//
//	mux.Handle("GET /v2/{endpoint}/logs", auth(store.Handler(isKnown)))
//
// Query parameters: worker=<worker id>, job=<job id>, tail=<n> (default 100,
// at most 5000; 0 means 5000 without follow), since=<RFC 3339 time or a
// duration ago such as 10m> and follow=1. Without follow the answer is JSON:
// {"endpoint": "...", "lines": [Record...]}, oldest first. With follow it is
// a text/event-stream: each record as `data: <Record JSON>`, first the last
// tail records (tail=0: live only), then new ones as they are printed, with a
// comment line every 15 s while nothing happens.
//
// Errors are JSON {"error": "..."}: 400 for a bad parameter, 404 for an
// unknown endpoint.
func (s *Store) Handler(known func(endpoint string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := r.PathValue("endpoint")
		if ep == "" {
			ep = endpointFromPath(r.URL.Path)
		}
		if ep == "" || strings.ContainsAny(ep, `/\.`) || !known(ep) {
			httpError(w, http.StatusNotFound, fmt.Sprintf("endpoint %q not found", ep))
			return
		}
		q := r.URL.Query()
		f := Filter{Endpoint: ep, Worker: q.Get("worker"), Job: q.Get("job"), Tail: DefaultTail}
		if len(f.Worker) > maxQueryValue || len(f.Job) > maxQueryValue {
			httpError(w, http.StatusBadRequest, "worker and job must be at most 256 characters")
			return
		}
		if t := q.Get("tail"); t != "" {
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 || n > MaxTail {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("tail must be a whole number from 0 to %d", MaxTail))
				return
			}
			f.Tail = n
		}
		if v := q.Get("since"); v != "" {
			t, err := parseSince(v, time.Now())
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			f.Since = t
		}
		follow := false
		switch q.Get("follow") {
		case "", "0", "false":
		case "1", "true":
			follow = true
		default:
			httpError(w, http.StatusBadRequest, "follow must be 1 or 0")
			return
		}
		if !follow {
			if f.Tail == 0 {
				f.Tail = MaxTail
			}
			recs, err := s.Read(r.Context(), f)
			if err != nil {
				httpError(w, http.StatusServiceUnavailable, "logs are not readable right now")
				return
			}
			if recs == nil {
				recs = []Record{}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"endpoint": ep, "lines": recs})
			return
		}
		s.serveFollow(w, r, f)
	})
}

func (s *Store) serveFollow(w http.ResponseWriter, r *http.Request, f Filter) {
	ctx := r.Context()
	// Subscribe before answering: every line printed after the client sees
	// the response headers is delivered.
	u, backlog, err := s.Subscribe(ctx, f)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "logs are not readable right now")
		return
	}
	defer u.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(rec Record) error {
		b, _ := json.Marshal(&rec)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		return nil
	}
	for _, rec := range backlog {
		if send(rec) != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	for {
		wait, cancel := context.WithTimeout(ctx, sseKeepAlive)
		rec, err := u.Next(wait)
		cancel()
		switch {
		case err == nil:
			err = send(rec)
		case errors.Is(err, ErrClosed):
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			rc.Flush()
			return
		case ctx.Err() != nil:
			return
		default: // keep-alive timeout
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

// endpointFromPath reads {endpoint} from /v2/{endpoint}/logs when the handler
// is mounted without a pattern.
func endpointFromPath(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) == 3 && parts[0] == "v2" && parts[2] == "logs" {
		return parts[1]
	}
	return ""
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// maxSince bounds a since duration (logs are not kept longer).
const maxSince = 366 * 24 * time.Hour

// parseSince reads since: an RFC 3339 time, or a duration before now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 && d <= maxSince {
		return now.Add(-d), nil
	}
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return time.Time{}, fmt.Errorf("since must be an RFC 3339 time such as 2026-01-02T15:04:05Z or a duration such as 10m (at most %s), got %q", maxSince, v)
}
