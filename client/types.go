package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// Status is a job's state as Runpod spells it.
type Status string

// Job states (their spelling is checked against internal/wire by
// TestStatusSpellingMatchesServer). RUNNING is accepted from servers as an alias of IN_PROGRESS.
const (
	StatusInQueue    Status = "IN_QUEUE"
	StatusInProgress Status = "IN_PROGRESS"
	StatusRunning    Status = "RUNNING"
	StatusCompleted  Status = "COMPLETED"
	StatusFailed     Status = "FAILED"
	StatusCancelled  Status = "CANCELLED"
	StatusTimedOut   Status = "TIMED_OUT"
)

// Terminal reports whether s is a final state: COMPLETED, FAILED, CANCELLED
// or TIMED_OUT.
func (s Status) Terminal() bool { return wire.Status(s).Terminal() }

// JobStatus is a job as the server reports it, from /run, /runsync,
// /status, /cancel and /retry. Field names mirror Runpod's JSON keys.
type JobStatus struct {
	// ID is the job id.
	ID string `json:"id"`
	// Status is the job's state.
	Status Status `json:"status"`
	// DelayTime is the time the job spent queued, in milliseconds; zero
	// until a worker took it.
	DelayTime int64 `json:"delayTime,omitempty"`
	// ExecutionTime is the time the job ran, in milliseconds.
	ExecutionTime int64 `json:"executionTime,omitempty"`
	// Output is the handler's result once COMPLETED; while IN_PROGRESS it
	// holds the latest progress update, if the handler sent one.
	Output json.RawMessage `json:"output,omitempty"`
	// Error is the error message of a FAILED job. A non-string error value
	// from the server is kept as its JSON text.
	Error string `json:"error,omitempty"`
	// WorkerID is the worker that ran the job, when the server reports it.
	WorkerID string `json:"workerId,omitempty"`
	// Retries is how many times the job was requeued automatically.
	Retries int `json:"retries,omitempty"`
	// Waiting says why an IN_QUEUE job waits (a Sluice extension of
	// /status; nil from Runpod and for jobs in other states).
	Waiting *Waiting `json:"waiting,omitempty"`

	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a status body, accepting an error of any JSON type
// and keeping the body in Raw.
func (s *JobStatus) UnmarshalJSON(b []byte) error {
	type plain JobStatus
	var w struct {
		plain
		Error json.RawMessage `json:"error,omitempty"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = JobStatus(w.plain)
	s.Error = errorText(w.Error)
	if s.Status == StatusRunning {
		s.Status = StatusInProgress
	}
	s.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// errorText turns an "error" value into text: a JSON string is unquoted,
// null is empty, anything else is kept as JSON.
func errorText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Delay is DelayTime as a duration.
func (s *JobStatus) Delay() time.Duration { return time.Duration(s.DelayTime) * time.Millisecond }

// Execution is ExecutionTime as a duration.
func (s *JobStatus) Execution() time.Duration {
	return time.Duration(s.ExecutionTime) * time.Millisecond
}

// ErrNoOutput is returned by [JobStatus.Decode] when the job has no output.
var ErrNoOutput = errors.New("job has no output")

// Decode unmarshals Output into v. It returns an error wrapping
// [ErrNoOutput] when the job carries no output.
func (s *JobStatus) Decode(v any) error {
	if len(s.Output) == 0 || string(s.Output) == "null" {
		return fmt.Errorf("decode job %s: %w", s.ID, ErrNoOutput)
	}
	if err := json.Unmarshal(s.Output, v); err != nil {
		return fmt.Errorf("decode job %s output: %w", s.ID, err)
	}
	return nil
}

// Err is nil when the job COMPLETED and a [*JobError] otherwise (failed,
// cancelled, timed out, or not finished yet).
func (s *JobStatus) Err() error {
	if s.Status == StatusCompleted {
		return nil
	}
	return &JobError{ID: s.ID, Status: s.Status, Message: s.Error}
}

// JobError reports a job that did not complete. It is what
// [JobStatus.Err] returns; the call that fetched the status succeeded.
type JobError struct {
	// ID is the job id.
	ID string
	// Status is the job's state.
	Status Status
	// Message is the job's error, if any.
	Message string
}

// Error returns "job ID STATUS" followed by the job's error message, if any.
func (e *JobError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("job %s %s", e.ID, e.Status)
	}
	return fmt.Sprintf("job %s %s: %s", e.ID, e.Status, e.Message)
}

// Waiting is why queued jobs wait, as Sluice reports it.
type Waiting struct {
	// Reason is a code: NO_WORKERS, STARTING_WORKER, AT_MAX_WORKERS,
	// CRASH_LOOP, GPUS_BUSY, WORKERS_UNHEALTHY or QUEUED.
	Reason string `json:"reason"`
	// Message explains the reason to a person (and what to do, if anything).
	Message string `json:"message"`
	// Since is when the reason began to hold.
	Since time.Time `json:"since"`
}

// Health is an endpoint's /health report.
type Health struct {
	// Jobs are the job counters.
	Jobs JobCounts `json:"jobs"`
	// Workers are the worker counters.
	Workers WorkerCounts `json:"workers"`
	// Waiting is why the endpoint's queued jobs wait, while some do (Sluice only).
	Waiting *Waiting `json:"waiting,omitempty"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// JobCounts are the job counters of /health.
type JobCounts struct {
	Completed  int `json:"completed"`  // jobs that completed (recently, as the server counts)
	Failed     int `json:"failed"`     // jobs that failed
	InProgress int `json:"inProgress"` // jobs running now
	InQueue    int `json:"inQueue"`    // jobs waiting for a worker now
	Retried    int `json:"retried"`    // jobs requeued after their worker was lost
}

// WorkerCounts are the worker counters of /health. Servers that do not
// report a counter leave it zero.
type WorkerCounts struct {
	Idle         int `json:"idle"`         // workers waiting for a job
	Initializing int `json:"initializing"` // workers starting up
	Ready        int `json:"ready"`        // workers able to take a job
	Running      int `json:"running"`      // workers running a job
	Throttled    int `json:"throttled"`    // workers held back by capacity limits
	Unhealthy    int `json:"unhealthy"`    // workers that crashed or stopped answering
}

// PurgeResult is the answer of /purge-queue.
type PurgeResult struct {
	// Removed is the number of queued jobs removed.
	Removed int `json:"removed"`
	// Status is the server's status word (Runpod: "completed").
	Status string `json:"status"`
	// Raw is the response body exactly as received.
	Raw json.RawMessage `json:"-"`
}

// policy is a job's execution policy (Runpod's "policy" request field),
// set by WithExecutionTimeout, WithTTL and WithLowPriority. Zero fields are
// left out, so the server's defaults apply.
type policy struct {
	// ExecutionTimeout is the longest the job may run once a worker has it.
	// Sent in milliseconds.
	ExecutionTimeout time.Duration
	// TTL is the job's whole lifetime counted from submission. Sent in
	// milliseconds.
	TTL time.Duration
	// LowPriority jobs run only when no normal job waits.
	LowPriority bool
}

// MarshalJSON encodes the policy as Runpod expects it: durations in
// milliseconds under executionTimeout and ttl, plus lowPriority.
func (p policy) MarshalJSON() ([]byte, error) {
	var w struct {
		ExecutionTimeout int64 `json:"executionTimeout,omitempty"`
		LowPriority      bool  `json:"lowPriority,omitempty"`
		TTL              int64 `json:"ttl,omitempty"`
	}
	w.ExecutionTimeout = p.ExecutionTimeout.Milliseconds()
	w.LowPriority = p.LowPriority
	w.TTL = p.TTL.Milliseconds()
	return json.Marshal(w)
}
