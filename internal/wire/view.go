package wire

import (
	"bytes"
	"encoding/json"
	"time"
)

// Job holds the facts of a job that its views are rendered from.
type Job struct {
	ID       string
	Status   Status
	WorkerID string
	Retries  int
	// Output is the final output; while IN_PROGRESS the latest progress update.
	Output json.RawMessage
	// Error is the error value as the worker sent it (usually a JSON string).
	Error json.RawMessage
	// IsStream marks a job whose worker streamed its output (job-done with
	// isStream=true).
	IsStream bool
	// CreatedAt is when the job was submitted, StartedAt when a worker took
	// it (zero until then), FinishedAt when it ended (zero until then).
	CreatedAt, StartedAt, FinishedAt time.Time
}

// DelayTime is the time spent queued (Runpod's delayTime), zero until taken.
func (j *Job) DelayTime() time.Duration {
	if j.StartedAt.IsZero() {
		return 0
	}
	return j.StartedAt.Sub(j.CreatedAt)
}

// ExecutionTime is the time spent running (Runpod's executionTime), growing
// until the job finishes.
func (j *Job) ExecutionTime() time.Duration {
	switch {
	case j.StartedAt.IsZero():
		return 0
	case j.FinishedAt.IsZero():
		return time.Since(j.StartedAt)
	}
	return j.FinishedAt.Sub(j.StartedAt)
}

// JobView is the body of /status, /run, /runsync and of a job's webhook
// (Runpod posts "what GET /status would return": docs/spec/runpod-api.md
// section 4). Times are whole milliseconds; fields are in Runpod's
// (alphabetical) order.
type JobView struct {
	DelayTime     *int64          `json:"delayTime,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	ID            string          `json:"id"`
	Output        json.RawMessage `json:"output,omitempty"`
	Retries       int             `json:"retries,omitempty"`
	Status        Status          `json:"status"`
	// Waiting says why an IN_QUEUE job waits (a Sluice extension set by
	// /status only; Runpod clients ignore it).
	Waiting  *Waiting `json:"waiting,omitempty"`
	WorkerID string   `json:"workerId,omitempty"`
}

// Waiting reasons: why an endpoint's queued jobs wait.
const (
	WaitNoWorkers        = "NO_WORKERS"        // no command and no worker connected
	WaitStartingWorker   = "STARTING_WORKER"   // a managed worker is starting
	WaitAtMaxWorkers     = "AT_MAX_WORKERS"    // every worker busy at workersMax
	WaitCrashLoop        = "CRASH_LOOP"        // managed workers keep exiting at start
	WaitGPUsBusy         = "GPUS_BUSY"         // a worker waits for a free GPU
	WaitWorkersUnhealthy = "WORKERS_UNHEALTHY" // workers are wedged or lost
	WaitQueued           = "QUEUED"            // capacity exists or is being added
)

// Waiting is why an endpoint's queued jobs wait: a reason code, a message
// for people, and since when the reason holds.
type Waiting struct {
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// View renders j as /status and the webhook show it. delayTime appears once
// a worker has taken the job, executionTime once it runs, output when not
// null and, while IN_PROGRESS, the latest progress update. A streaming job's
// final [] (a generator without return_aggregate_stream) is no output, in
// /status and in the webhook alike: on Runpod its chunks are only read with
// /stream (docs/spec/runpod-api.md sections 2.5 and 6.2; Runpod's "Aggregate
// streaming outputs" page).
func View(j *Job) JobView {
	v := JobView{ID: j.ID, Status: j.Status, WorkerID: j.WorkerID, Retries: j.Retries}
	if !j.StartedAt.IsZero() {
		v.DelayTime = millis(j.DelayTime())
		v.ExecutionTime = millis(j.ExecutionTime())
	}
	if !IsNull(j.Output) && (!j.IsStream || !isEmptyList(j.Output)) {
		v.Output = j.Output
	}
	if !IsNull(j.Error) {
		v.Error = j.Error
	}
	return v
}

// StreamView is a /stream body: the chunks since the previous read.
// "stream" is always present (runpod-python's sync client needs it in
// final answers) and "output" is never sent.
type StreamView struct {
	DelayTime *int64          `json:"delayTime,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
	ID        string          `json:"id"`
	Status    Status          `json:"status"`
	Stream    []StreamChunk   `json:"stream"`
}

// StreamChunk is one element of StreamView.Stream.
type StreamChunk struct {
	Output json.RawMessage `json:"output"`
}

// Stream renders j with chunks as /stream shows them; the error only once
// the job is terminal.
func Stream(j *Job, chunks []json.RawMessage) StreamView {
	v := StreamView{ID: j.ID, Status: j.Status, Stream: make([]StreamChunk, 0, len(chunks))}
	if !j.StartedAt.IsZero() {
		v.DelayTime = millis(j.DelayTime())
	}
	if j.Status.Terminal() && !IsNull(j.Error) {
		v.Error = j.Error
	}
	for _, c := range chunks {
		v.Stream = append(v.Stream, StreamChunk{Output: c})
	}
	return v
}

// Submitted answers /run, /cancel and /retry: {"id", "status"}.
type Submitted struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}

// Purge answers /purge-queue.
type Purge struct {
	Removed int    `json:"removed"`
	Status  string `json:"status"`
}

// ErrorBody is the body of every 4xx and 5xx answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// Health is the body of /health for one endpoint.
type Health struct {
	Jobs    JobCounts    `json:"jobs"`
	Workers WorkerCounts `json:"workers"`
	// CrashLoop is set while the endpoint's managed workers keep exiting
	// before they come up (a Sluice extension; Runpod clients ignore it).
	CrashLoop *CrashLoop `json:"crashLoop,omitempty"`
	// Waiting is why the endpoint's queued jobs wait, while some do (a
	// Sluice extension).
	Waiting *Waiting `json:"waiting,omitempty"`
}

// CrashLoop describes an endpoint whose workers keep crashing at start.
type CrashLoop struct {
	// Crashes is the number of workers in a row that exited before they came up.
	Crashes int `json:"crashes"`
	// LastExit is how the last one ended; LogTail its last output lines.
	LastExit string   `json:"lastExit"`
	LogTail  []string `json:"logTail,omitempty"`
	// NextStartAt is when the next worker starts (crash back-off).
	NextStartAt time.Time `json:"nextStartAt,omitzero"`
	// FailsQueuedJobs: crashLoopFailAfter is reached, so queued jobs FAIL
	// with this reason instead of waiting.
	FailsQueuedJobs bool `json:"failsQueuedJobs,omitempty"`
}

// JobCounts are the job counters of /health.
type JobCounts struct {
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	InProgress int `json:"inProgress"`
	InQueue    int `json:"inQueue"`
	Retried    int `json:"retried"`
}

// WorkerCounts are the worker counters of /health; every key is always sent.
type WorkerCounts struct {
	Idle         int `json:"idle"`
	Initializing int `json:"initializing"`
	Ready        int `json:"ready"`
	Running      int `json:"running"`
	Throttled    int `json:"throttled"`
	Unhealthy    int `json:"unhealthy"`
}

// Encode is v as Sluice writes a JSON body: no HTML escaping, and a
// trailing newline.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// IsNull reports whether raw is absent or JSON null.
func IsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func isEmptyList(raw json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(raw, &a) == nil && len(a) == 0
}

func millis(d time.Duration) *int64 {
	ms := d.Milliseconds()
	return &ms
}

// EndpointInfo is one endpoint as GET /v2/endpoints (a Sluice extension)
// describes it.
type EndpointInfo struct {
	ID string `json:"id"`
	// Managed: Sluice starts this endpoint's workers itself.
	Managed    bool `json:"managed"`
	WorkersMin int  `json:"workersMin"`
	WorkersMax int  `json:"workersMax"`
	// Workers is the number of live workers; InQueue and InProgress count jobs.
	Workers            int   `json:"workers"`
	InQueue            int   `json:"inQueue"`
	InProgress         int   `json:"inProgress"`
	ExecutionTimeoutMs int64 `json:"executionTimeoutMs"`
}

// EndpointList is the body of GET /v2/endpoints.
type EndpointList struct {
	Endpoints []EndpointInfo `json:"endpoints"`
}
