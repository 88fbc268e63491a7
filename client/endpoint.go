package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Endpoint is a handle on one endpoint of a [Client]. Get it with
// [Client.Endpoint]; it is safe for concurrent use.
type Endpoint struct {
	c  *Client
	id string
	// noStatusSync is set once the server answered /status-sync with 404
	// or 405 while /status knew the job: Wait then polls /status.
	noStatusSync atomic.Bool
}

// ID returns the endpoint id.
func (e *Endpoint) ID() string { return e.id }

func (e *Endpoint) path(op string, jobID ...string) string {
	p := "/v2/" + url.PathEscape(e.id) + "/" + op
	for _, s := range jobID {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// RequestOption sets a field of a /run or /runsync request, or tunes
// [Endpoint.RunSync].
type RequestOption func(*request)

type request struct {
	webhook  string
	policy   policy
	fields   map[string]json.RawMessage
	syncWait time.Duration
	onUpdate func(*JobStatus)
	onID     func(string)
}

// WithWebhook asks the server to POST the job's final status to url when
// the job reaches a terminal state.
func WithWebhook(url string) RequestOption { return func(r *request) { r.webhook = url } }

// WithExecutionTimeout sets the policy's execution timeout: the longest the
// job may run once a worker has it (sent in milliseconds).
func WithExecutionTimeout(d time.Duration) RequestOption {
	return func(r *request) { r.policy.ExecutionTimeout = d }
}

// WithTTL sets the policy's TTL: the job's whole lifetime counted from
// submission (sent in milliseconds).
func WithTTL(d time.Duration) RequestOption { return func(r *request) { r.policy.TTL = d } }

// WithLowPriority marks the job low priority: it runs only when no normal
// job waits.
func WithLowPriority() RequestOption { return func(r *request) { r.policy.LowPriority = true } }

// WithField sets another top-level field of the request body, such as
// "s3Config", which the server hands to the worker as is. It takes
// precedence over the other options for the same key, but "input" cannot
// be replaced.
func WithField(key string, value json.RawMessage) RequestOption {
	return func(r *request) {
		if r.fields == nil {
			r.fields = map[string]json.RawMessage{}
		}
		r.fields[key] = value
	}
}

// WithSyncWait sets how long the server holds a /runsync request (the
// "wait" query parameter) before RunSync falls back to waiting on the
// job's status. Zero (the default) leaves it to the server: 90s on Runpod.
func WithSyncWait(d time.Duration) RequestOption { return func(r *request) { r.syncWait = d } }

// OnUpdate makes [Endpoint.RunSync] and [Endpoint.Wait] call fn with every
// status they see while they wait, the final one included, from the
// calling goroutine. A nil fn is ignored.
func OnUpdate(fn func(*JobStatus)) RequestOption {
	return func(r *request) { r.onUpdate = fn }
}

// OnAccepted makes [Endpoint.RunSync] call fn with the job's id as soon as
// the server has accepted the job (its X-Request-Id header, which Sluice
// sends before /runsync waits), so a caller that gives up early still has
// the id. It is called from the calling goroutine; a nil fn is ignored.
func OnAccepted(fn func(jobID string)) RequestOption {
	return func(r *request) { r.onID = fn }
}

// body builds the request body: {"input": input, "webhook", "policy", ...}
// with keys in sorted order. A nil input is sent as {}. JSON is written
// without HTML escaping, so a json.RawMessage input reaches the server as
// given (compacted).
func (r *request) body(input any) ([]byte, error) {
	m := map[string]json.RawMessage{}
	var in json.RawMessage
	switch v := input.(type) {
	case nil:
		in = json.RawMessage(`{}`)
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, errors.New("encode input: invalid JSON")
		}
		in = v
	default:
		b, err := marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode input: %w", err)
		}
		in = b
	}
	if r.webhook != "" {
		b, _ := marshal(r.webhook)
		m["webhook"] = b
	}
	if r.policy != (policy{}) {
		b, _ := json.Marshal(r.policy)
		m["policy"] = b
	}
	for k, v := range r.fields {
		if !json.Valid(v) {
			return nil, fmt.Errorf("encode field %q: invalid JSON", k)
		}
		m[k] = v
	}
	m["input"] = in
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, _ := marshal(k)
		buf.Write(key)
		buf.WriteByte(':')
		if err := json.Compact(&buf, m[k]); err != nil {
			return nil, fmt.Errorf("encode %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func newRequest(opts []RequestOption) *request {
	r := &request{}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Run submits a job with input as the handler's input (any value that
// encodes to JSON; a json.RawMessage is sent as is) and returns at once
// with the job's id and status (IN_QUEUE). It is not retried.
func (e *Endpoint) Run(ctx context.Context, input any, opts ...RequestOption) (*JobStatus, error) {
	body, err := newRequest(opts).body(input)
	if err != nil {
		return nil, fmt.Errorf("run on %s: %w", e.id, err)
	}
	st, err := e.statusCall(ctx, call{method: http.MethodPost, path: e.path("run"), body: body})
	if err != nil {
		return nil, fmt.Errorf("run on %s: %w", e.id, err)
	}
	return st, nil
}

// RunSync submits a job and waits for it to finish. The server holds the
// /runsync request (see [WithSyncWait]); if the job is not finished when
// the server answers, RunSync goes on as [Endpoint.Wait] does until the job
// is terminal or ctx ends. A job that failed is not an error of the call:
// check the result's Err method.
func (e *Endpoint) RunSync(ctx context.Context, input any, opts ...RequestOption) (*JobStatus, error) {
	r := newRequest(opts)
	body, err := r.body(input)
	if err != nil {
		return nil, fmt.Errorf("runsync on %s: %w", e.id, err)
	}
	var q url.Values
	if r.syncWait > 0 {
		q = url.Values{"wait": {strconv.FormatInt(r.syncWait.Milliseconds(), 10)}}
	}
	cl := call{method: http.MethodPost, path: e.path("runsync"), query: q, body: body}
	if r.onID != nil {
		cl.onHead = func(h http.Header) {
			if id := h.Get("X-Request-Id"); id != "" {
				r.onID(id)
			}
		}
	}
	st, err := e.statusCall(ctx, cl)
	if err != nil {
		// Runpod may answer a FAILED /runsync job with a 4xx whose body is
		// the job's status: that is a result, not a failed call.
		var ae *APIError
		if errors.As(err, &ae) {
			if s, ok := parseStatus(ae.Body); ok {
				return s, nil
			}
		}
		return nil, fmt.Errorf("runsync on %s: %w", e.id, err)
	}
	if r.onUpdate != nil {
		r.onUpdate(st)
	}
	if st.Status.Terminal() {
		return st, nil
	}
	return e.Wait(ctx, st.ID, OnUpdate(r.onUpdate))
}

// Status fetches a job's status. A job that never existed or has expired
// gives an error matching [ErrNotFound].
func (e *Endpoint) Status(ctx context.Context, jobID string) (*JobStatus, error) {
	st, err := e.statusCall(ctx, call{method: http.MethodGet, path: e.path("status", jobID), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("status job %s: %w", jobID, err)
	}
	return st, nil
}

// Cancel cancels a queued or running job and returns its status. It is not
// retried.
func (e *Endpoint) Cancel(ctx context.Context, jobID string) (*JobStatus, error) {
	st, err := e.statusCall(ctx, call{method: http.MethodPost, path: e.path("cancel", jobID)})
	if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", jobID, err)
	}
	return st, nil
}

// Retry puts a FAILED or TIMED_OUT job back in the queue (same id, same
// input) and returns its status.
func (e *Endpoint) Retry(ctx context.Context, jobID string) (*JobStatus, error) {
	st, err := e.statusCall(ctx, call{method: http.MethodPost, path: e.path("retry", jobID)})
	if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", jobID, err)
	}
	return st, nil
}

// Health fetches the endpoint's job and worker counters.
func (e *Endpoint) Health(ctx context.Context) (*Health, error) {
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("health"), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", e.id, err)
	}
	h := &Health{}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("health of %s: decode response: %w", e.id, err)
	}
	h.Raw = b
	return h, nil
}

// PurgeQueue removes every queued job of the endpoint; running jobs go on.
// It is not retried.
func (e *Endpoint) PurgeQueue(ctx context.Context) (*PurgeResult, error) {
	b, err := e.c.do(ctx, call{method: http.MethodPost, path: e.path("purge-queue")})
	if err != nil {
		return nil, fmt.Errorf("purge queue of %s: %w", e.id, err)
	}
	p := &PurgeResult{}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("purge queue of %s: decode response: %w", e.id, err)
	}
	p.Raw = b
	return p, nil
}

// statusCall sends a call whose answer is a job status.
func (e *Endpoint) statusCall(ctx context.Context, cl call) (*JobStatus, error) {
	b, err := e.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	st, ok := parseStatus(b)
	if !ok {
		return nil, fmt.Errorf("decode response: not a job status: %.200s", b)
	}
	return st, nil
}

// parseStatus decodes a job status body that has at least an id and a
// status.
func parseStatus(b []byte) (*JobStatus, bool) {
	st := &JobStatus{}
	if err := json.Unmarshal(b, st); err != nil || st.ID == "" || st.Status == "" {
		return nil, false
	}
	return st, true
}
