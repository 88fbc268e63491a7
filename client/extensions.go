package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The calls in this file are Sluice extensions of the /v2 API; Runpod's
// hosted API does not serve them.

// Endpoints lists the server's endpoints (GET /v2/endpoints, a Sluice
// extension) and returns the response body as is.
func (c *Client) Endpoints(ctx context.Context) (json.RawMessage, error) {
	b, err := c.do(ctx, call{method: http.MethodGet, path: "/v2/endpoints", idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return b, nil
}

// Workers lists the endpoint's workers (GET /v2/{endpoint}/workers, a
// Sluice extension) and returns the response body as is.
func (e *Endpoint) Workers(ctx context.Context) (json.RawMessage, error) {
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("workers"), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("workers of %s: %w", e.id, err)
	}
	return b, nil
}

// NoTail is the [LogsQuery] Tail value that asks for no past lines.
const NoTail = -1

// LogsQuery selects log lines for [Endpoint.Logs].
type LogsQuery struct {
	// Worker keeps the lines of one worker. Empty: every worker.
	Worker string
	// Job keeps the lines logged while one job ran. Empty: every job.
	Job string
	// Tail is how many past lines to send first. Zero leaves it to the
	// server (Sluice: 100); [NoTail] asks for new lines only (with Follow).
	Tail int
	// Follow keeps the response open and streams new lines as they are
	// logged, until ctx ends or the server closes it.
	Follow bool
}

// Logs opens the endpoint's worker logs (GET
// /v2/{endpoint}/logs?worker=&job=&tail=&follow=1, a Sluice extension).
// The caller reads the body and closes it. Sluice answers
// {"endpoint": ..., "lines": [...]} as application/json, or with Follow a
// text/event-stream of "data: <line JSON>" events; the Content-Type in the
// returned header tells which. It is not retried.
func (e *Endpoint) Logs(ctx context.Context, q LogsQuery) (io.ReadCloser, http.Header, error) {
	v := url.Values{}
	if q.Worker != "" {
		v.Set("worker", q.Worker)
	}
	if q.Job != "" {
		v.Set("job", q.Job)
	}
	switch {
	case q.Tail > 0:
		v.Set("tail", strconv.Itoa(q.Tail))
	case q.Tail < 0:
		v.Set("tail", "0")
	}
	if q.Follow {
		v.Set("follow", "1")
	}
	resp, err := e.c.send(ctx, call{method: http.MethodGet, path: e.path("logs"), query: v})
	if err != nil {
		return nil, nil, fmt.Errorf("logs of %s: %w", e.id, err)
	}
	return resp.Body, resp.Header, nil
}
