package wire

import (
	"encoding/json"
	"time"
)

// The job listing bodies (GET /v2/{endpoint}/jobs and /jobs/{id}, Sluice
// extensions; docs/spec/jobs-api.md). Times are RFC 3339 in UTC, cut to
// the millisecond (Millis); durations are whole milliseconds.

// JobList is the body of GET /v2/{endpoint}/jobs: a page of jobs, newest
// submission first. NextCursor is absent on the last page.
type JobList struct {
	Jobs       []JobSummary `json:"jobs"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// JobSummary is one job of a listing.
type JobSummary struct {
	ID          string    `json:"id"`
	Status      Status    `json:"status"`
	SubmittedAt time.Time `json:"submittedAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	// DelayTime and ExecutionTime are in ms, as in /status; absent until
	// the job is taken.
	DelayTime     *int64 `json:"delayTime,omitempty"`
	ExecutionTime *int64 `json:"executionTime,omitempty"`
	WorkerID      string `json:"workerId,omitempty"`
	Retries       int    `json:"retries"`
	// Error is the first line of the error, at most ErrorSummaryMax bytes.
	Error string `json:"error,omitempty"`
}

// JobDetail is the body of GET /v2/{endpoint}/jobs/{id}: the summary's
// fields (with the whole error) and the rest of the job.
type JobDetail struct {
	JobSummary
	// Input is absent when over 64 KiB: then InputTruncated is set and
	// InputPreview holds its first 64 KiB (GET .../jobs/{id}/input has it whole).
	Input          json.RawMessage `json:"input,omitempty"`
	InputBytes     int             `json:"inputBytes"`
	InputTruncated bool            `json:"inputTruncated,omitempty"`
	InputPreview   string          `json:"inputPreview,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	// Error is the whole error message; Traceback the worker's traceback.
	Error     string `json:"error,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	// Progress is the latest progress update while IN_PROGRESS.
	Progress     json.RawMessage `json:"progress,omitempty"`
	StreamChunks int             `json:"streamChunks"`
	Attempts     []JobAttempt    `json:"attempts"`
	Webhook      *JobWebhook     `json:"webhook,omitempty"`
}

// Attempt outcomes besides the terminal job states.
const (
	OutcomeRunning    = "RUNNING"
	OutcomeWorkerLost = "WORKER_LOST"
)

// JobAttempt is one try of a job: a worker-lost requeue and a /retry each
// start a new one.
type JobAttempt struct {
	Attempt    int       `json:"attempt"`
	WorkerID   string    `json:"workerId,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Outcome: COMPLETED, FAILED, TIMED_OUT, CANCELLED, WORKER_LOST or RUNNING.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// JobWebhook is the delivery state of a job's webhook.
type JobWebhook struct {
	URL         string    `json:"url"`
	State       string    `json:"state"` // pending, delivered or failed
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"lastError,omitempty"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// Millis is t in UTC cut to the millisecond, as the listing bodies carry
// times (the zero time stays zero).
func Millis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}
