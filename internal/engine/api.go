// CONTRACT NOTE: this file is the agreed surface between the engine and the
// HTTP layers (internal/api). Signatures may grow, but keep callers compiling.

package engine

import (
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// Status is a job's state, spelled as Runpod spells it (internal/wire).
type Status = wire.Status

// Job states: the spelling lives in internal/wire.
const (
	StatusInQueue    = wire.StatusInQueue
	StatusInProgress = wire.StatusInProgress
	StatusCompleted  = wire.StatusCompleted
	StatusFailed     = wire.StatusFailed
	StatusCancelled  = wire.StatusCancelled
	StatusTimedOut   = wire.StatusTimedOut
)

// Errors callers branch on. Wrap them with context; test with errors.Is.
var (
	ErrNotFound = errors.New("not found")           // unknown or expired job, unknown endpoint
	ErrConflict = errors.New("conflict")            // transition not allowed from the job's current state
	ErrNotOwner = errors.New("not the job's owner") // worker posting for a job it does not hold (late or lost worker)
	ErrTooLarge = errors.New("too large")           // payload over a limit
	ErrClosed   = errors.New("engine closed")
	ErrInvalid  = errors.New("invalid request") // e.g. a submit without input
	// ErrIdempotencyMismatch: an idempotency key reused with a different request body.
	ErrIdempotencyMismatch = errors.New("idempotency key already used with a different request body")
	// ErrQueueFull: the endpoint's queue holds MaxQueue jobs; retry later.
	ErrQueueFull = errors.New("queue full")
)

// Policy is the per-job policy from the request body (Runpod's "policy").
type Policy struct {
	// ExecutionTimeout is the longest a job may run once taken. Zero: the endpoint's default.
	ExecutionTimeout time.Duration
	// TTL is the job's whole lifetime from submission. Zero: 24 h.
	TTL time.Duration
	// LowPriority jobs run only when no normal job waits, and never trigger scale-up.
	LowPriority bool
}

// SubmitRequest is a validated /run or /runsync body.
type SubmitRequest struct {
	Input   json.RawMessage // required, any JSON value
	Webhook string          // optional URL called on terminal states
	Policy  Policy
	Sync    bool // from /runsync: id gets a "sync-" prefix and retention is the sync retention
	// Extra holds other top-level request fields handed to the worker as-is (e.g. s3Config).
	Extra map[string]json.RawMessage
	// Retention overrides how long the result stays readable once finished
	// (e.g. max(SyncRetention, wait) for /runsync?wait=). Zero: Config.Retention,
	// or Config.SyncRetention for Sync. The ttl still bounds it.
	Retention time.Duration
	// IdempotencyKey, when set, makes the submit idempotent: the same key on
	// the same endpoint returns the job it first created while that job
	// exists (at most MaxIdempotencyKey bytes). IdempotencyHash identifies the
	// request body (as a JSON value); the same key with another hash is
	// ErrIdempotencyMismatch.
	IdempotencyKey  string
	IdempotencyHash string
}

// Job is a job record as the engine keeps it.
type Job struct {
	ID       string          `json:"id"`
	Endpoint string          `json:"endpoint"`
	Status   Status          `json:"status"`
	Input    json.RawMessage `json:"input,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"` // final output; while IN_PROGRESS the latest progress update
	Error    json.RawMessage `json:"error,omitempty"`  // error value as the worker sent it (usually a JSON string)
	Webhook  string          `json:"webhook,omitempty"`
	Policy   Policy          `json:"policy"`
	Sync     bool            `json:"sync,omitempty"`
	// Extra holds the other top-level request fields (e.g. s3Config), handed to the worker as-is.
	Extra      map[string]json.RawMessage `json:"extra,omitempty"`
	WorkerID   string                     `json:"workerId,omitempty"`
	Retries    int                        `json:"retries"`
	StopPod    bool                       `json:"stopPod,omitempty"`
	IsStream   bool                       `json:"isStream,omitempty"`
	CreatedAt  time.Time                  `json:"createdAt"`
	StartedAt  time.Time                  `json:"startedAt,omitzero"`
	FinishedAt time.Time                  `json:"finishedAt,omitzero"`
}

// Wire is the part of j its Runpod views are rendered from (wire.View).
func (j *Job) Wire() *wire.Job {
	return &wire.Job{ID: j.ID, Status: j.Status, WorkerID: j.WorkerID, Retries: j.Retries,
		Output: j.Output, Error: j.Error, IsStream: j.IsStream,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
}

// DelayTime is the time spent queued (Runpod's delayTime), zero until taken.
func (j *Job) DelayTime() time.Duration { return j.Wire().DelayTime() }

// ExecutionTime is the time spent running (Runpod's executionTime).
func (j *Job) ExecutionTime() time.Duration { return j.Wire().ExecutionTime() }

// Result is a final job-done body from a worker.
type Result struct {
	Output   json.RawMessage // "output", may be absent
	Error    json.RawMessage // "error"; a truthy error makes the job FAILED
	StopPod  bool            // "stopPod": the worker wants to be replaced
	IsStream bool            // isStream=true query parameter
}

// Health is /health for one endpoint (internal/wire's body).
type Health = wire.Health

// CrashLoop describes an endpoint whose workers keep crashing at start.
type CrashLoop = wire.CrashLoop

// JobCounts are the job counters of /health.
type JobCounts = wire.JobCounts

// WorkerCounts are the worker counters of /health; every key is always sent.
type WorkerCounts = wire.WorkerCounts

// Worker is what the engine knows about one worker, from its takes and pings.
type Worker struct {
	ID       string    `json:"id"`
	Endpoint string    `json:"endpoint"`
	LastSeen time.Time `json:"lastSeen"`
	Jobs     []string  `json:"jobs"` // jobs it holds
	// Stopping are jobs it still reported running at its last ping though
	// they were stopped (cancelled, timed out or taken from it): it is busy
	// until it drops them, not idle.
	Stopping []string `json:"stopping,omitempty"`
}

// EndpointSettings are the engine-relevant settings of one endpoint.
type EndpointSettings struct {
	ID string
	// ExecutionTimeout is the default per-job execution timeout. Zero: 10 min.
	ExecutionTimeout time.Duration
	// MaxQueue bounds the jobs waiting in the endpoint's queue; a Submit
	// over it is ErrQueueFull. Zero: DefaultMaxQueue; negative: no bound.
	MaxQueue int
}

// Config configures Open.
type Config struct {
	// DataDir holds the embedded NATS server's storage. Required when NATSURL is empty.
	DataDir string
	// NATSURL connects to an external NATS cluster instead of embedding one. Default: embedded.
	NATSURL string
	// Replicas for streams and buckets. Default: 1 embedded or on a single
	// external server, 3 on an external cluster.
	Replicas int
	// StrictSync makes the embedded server fsync every write. Default false (fsync on an interval).
	StrictSync bool
	// MaxStorage bounds the embedded server's file store in bytes; writes
	// over it fail with an error StorageFull reports (nothing already stored
	// is harmed), and succeed again once expiry, purges or finished jobs
	// free room. Zero: DefaultMaxStorage(DataDir). Ignored with NATSURL.
	MaxStorage int64
	// Retention is how long a /run result stays readable after it finishes. Default 30 min.
	Retention time.Duration
	// SyncRetention is the same for /runsync. Default 1 min.
	SyncRetention time.Duration
	// PingInterval is the interval workers ping at. Default 10 s.
	PingInterval time.Duration
	// WorkerLostAfter: a worker not seen for this long is lost. Default 3 × PingInterval.
	WorkerLostAfter time.Duration
	// MaxRetries is how many times a job is re-queued after its worker was lost. Default 2.
	MaxRetries int
	// MaxOutputBytes is the largest result kept. Default 20 MB.
	MaxOutputBytes int
	// Endpoints are the known endpoints; others are ErrNotFound.
	Endpoints []EndpointSettings
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// AckWait is how long a queue message fetched by a replica that then died
	// stays invisible before another replica may take it. Default 30 s.
	AckWait time.Duration
	// ReaperInterval is how often the reaper looks for timed-out jobs and lost
	// workers. Default PingInterval / 2, at most 5 s.
	ReaperInterval time.Duration
	// Observer, when set, hears about terminal transitions (metrics). Default: none.
	Observer Observer
}

// QueueStats are the queue figures the autoscaler works from.
type QueueStats struct {
	Queued          int           // normal-priority jobs waiting
	QueuedLow       int           // low-priority jobs waiting
	InProgress      int           // jobs held by workers
	OldestQueuedAge time.Duration // age of the oldest normal-priority waiting message, 0 if none
}
