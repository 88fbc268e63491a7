package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The job listing calls are Sluice extensions of the /v2 API
// (docs/spec/jobs-api.md); Runpod's hosted API does not serve them.

// JobSummary is one job of a listing (GET /v2/{endpoint}/jobs).
type JobSummary struct {
	ID          string    `json:"id"`
	Status      Status    `json:"status"`
	SubmittedAt time.Time `json:"submittedAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	// DelayTime and ExecutionTime are in milliseconds; nil until the job is taken.
	DelayTime     *int64 `json:"delayTime,omitempty"`
	ExecutionTime *int64 `json:"executionTime,omitempty"`
	WorkerID      string `json:"workerId,omitempty"`
	Retries       int    `json:"retries"`
	// Error is the first line of the error (at most 200 bytes), empty when none.
	Error string `json:"error,omitempty"`
}

// JobPage is a page of jobs, newest first. NextCursor is empty on the last page.
type JobPage struct {
	Jobs       []JobSummary `json:"jobs"`
	NextCursor string       `json:"nextCursor,omitempty"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// ListJobsQuery selects a page for [Endpoint.ListJobs].
type ListJobsQuery struct {
	// Statuses keeps jobs in these states; empty keeps all.
	Statuses []Status
	// Limit is the page size (1..500); zero leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts at the newest job.
	Cursor string
}

// JobAttempt is one try of a job.
type JobAttempt struct {
	Attempt    int       `json:"attempt"`
	WorkerID   string    `json:"workerId,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Outcome is COMPLETED, FAILED, TIMED_OUT, CANCELLED, WORKER_LOST or RUNNING.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// JobWebhook is the delivery state of a job's webhook.
type JobWebhook struct {
	URL string `json:"url"`
	// State is pending, delivered or failed.
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"lastError,omitempty"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// JobDetail is one job in full (GET /v2/{endpoint}/jobs/{id}).
type JobDetail struct {
	JobSummary
	// Input is nil when the input is over 64 KiB: then InputTruncated is
	// set, InputPreview holds its first 64 KiB and [Endpoint.JobInput]
	// returns it whole.
	Input          json.RawMessage `json:"input,omitempty"`
	InputBytes     int             `json:"inputBytes"`
	InputTruncated bool            `json:"inputTruncated,omitempty"`
	InputPreview   string          `json:"inputPreview,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	// Error is the whole error message, Traceback the worker's traceback.
	Error     string `json:"error,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	// Progress is the latest progress update while the job runs.
	Progress     json.RawMessage `json:"progress,omitempty"`
	StreamChunks int             `json:"streamChunks"`
	Attempts     []JobAttempt    `json:"attempts"`
	Webhook      *JobWebhook     `json:"webhook,omitempty"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// ListJobs returns a page of the endpoint's jobs, newest first (GET
// /v2/{endpoint}/jobs, a Sluice extension).
func (e *Endpoint) ListJobs(ctx context.Context, q ListJobsQuery) (*JobPage, error) {
	v := url.Values{}
	if len(q.Statuses) > 0 {
		s := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			s[i] = string(st)
		}
		v.Set("status", strings.Join(s, ","))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("jobs"), query: v, idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("jobs of %s: %w", e.id, err)
	}
	p := &JobPage{Raw: b}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("jobs of %s: decode response: %w", e.id, err)
	}
	return p, nil
}

// Job returns one job with its attempts, output and webhook state (GET
// /v2/{endpoint}/jobs/{id}, a Sluice extension).
func (e *Endpoint) Job(ctx context.Context, jobID string) (*JobDetail, error) {
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("jobs", jobID), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", jobID, err)
	}
	d := &JobDetail{Raw: b}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("job %s: decode response: %w", jobID, err)
	}
	return d, nil
}

// JobInput returns a job's whole input, however large (GET
// /v2/{endpoint}/jobs/{id}/input, a Sluice extension).
func (e *Endpoint) JobInput(ctx context.Context, jobID string) (json.RawMessage, error) {
	b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("jobs", jobID, "input"), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("input of job %s: %w", jobID, err)
	}
	return b, nil
}
