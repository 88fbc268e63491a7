package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The calls in this file are Sluice extensions of the /v2 API; Runpod's
// hosted API does not serve them.

// EndpointInfo is one endpoint as GET /v2/endpoints describes it.
type EndpointInfo struct {
	ID string `json:"id"`
	// Managed: the server starts this endpoint's workers itself.
	Managed    bool `json:"managed"`
	WorkersMin int  `json:"workersMin"`
	WorkersMax int  `json:"workersMax"`
	// Workers is the number of live workers; InQueue and InProgress count jobs.
	Workers            int   `json:"workers"`
	InQueue            int   `json:"inQueue"`
	InProgress         int   `json:"inProgress"`
	ExecutionTimeoutMs int64 `json:"executionTimeoutMs"`
}

// EndpointList is the answer of GET /v2/endpoints.
type EndpointList struct {
	// Endpoints are the endpoints the client's key opens.
	Endpoints []EndpointInfo `json:"endpoints"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// Endpoints lists the server's endpoints that the client's key opens
// (GET /v2/endpoints, a Sluice extension).
func (c *Client) Endpoints(ctx context.Context) (*EndpointList, error) {
	b, err := c.do(ctx, call{method: http.MethodGet, path: "/v2/endpoints", idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	l := &EndpointList{Raw: b}
	if err := decodeList(b, "endpoints", &l.Endpoints); err != nil {
		return nil, fmt.Errorf("list endpoints: decode response: %w", err)
	}
	return l, nil
}

// WorkerInfo is one worker as GET /v2/{endpoint}/workers describes it: a
// process the server runs (with its pid, GPUs and, once it exited, how),
// or a worker that only calls the worker API (with when it was last seen).
type WorkerInfo struct {
	ID       string   `json:"id"`
	Endpoint string   `json:"endpoint"`
	Status   string   `json:"status,omitempty"` // e.g. idle, running, draining, exited
	PID      int      `json:"pid,omitempty"`
	GPUs     []string `json:"gpus,omitempty"`
	// Jobs are the ids of the jobs the worker holds.
	Jobs      []string  `json:"jobs,omitempty"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	LastSeen  time.Time `json:"lastSeen,omitzero"`
	Draining  bool      `json:"draining,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Stale     bool      `json:"isStale,omitempty"`
	ExitedAt  time.Time `json:"exitedAt,omitzero"`
	Exit      string    `json:"exit,omitempty"`
	// LogTail are the last lines an exited worker wrote.
	LogTail []string `json:"logTail,omitempty"`
}

// WorkerList is the answer of GET /v2/{endpoint}/workers.
type WorkerList struct {
	Workers []WorkerInfo `json:"workers"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// Workers lists the endpoint's workers (GET /v2/{endpoint}/workers, a
// Sluice extension).
func (e *Endpoint) Workers(ctx context.Context) (*WorkerList, error) {
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("workers"), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("workers of %s: %w", e.id, err)
	}
	l := &WorkerList{Raw: b}
	if err := decodeList(b, "workers", &l.Workers); err != nil {
		return nil, fmt.Errorf("workers of %s: decode response: %w", e.id, err)
	}
	return l, nil
}

// decodeList decodes a listing, {"<key>": [...]} as Sluice sends it or a
// bare [...], into list.
func decodeList(b []byte, key string, list any) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		return json.Unmarshal(t, list)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	raw, ok := m[key]
	if !ok {
		return fmt.Errorf("no %q list in %.100s", key, b)
	}
	return json.Unmarshal(raw, list)
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

// LogStream is an open logs response. Read it and Close it.
type LogStream struct {
	io.ReadCloser
	// Follow is true for a text/event-stream of "data: <line JSON>" events
	// (LogsQuery.Follow), false for one JSON document
	// {"endpoint": ..., "lines": [...]}.
	Follow bool
	// ContentType is the response's media type as the server sent it.
	ContentType string
}

// Logs opens the endpoint's worker logs (GET
// /v2/{endpoint}/logs?worker=&job=&tail=&follow=1, a Sluice extension).
// It is not retried.
func (e *Endpoint) Logs(ctx context.Context, q LogsQuery) (*LogStream, error) {
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
	resp, err := e.c.send(ctx, call{method: http.MethodGet, path: e.path("logs"), query: v}) //nolint:bodyclose // the body is the returned LogStream; its caller closes it
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", e.id, err)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	return &LogStream{ReadCloser: resp.Body, Follow: mt == "text/event-stream", ContentType: ct}, nil
}
