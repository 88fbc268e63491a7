package api

import (
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// JobView is a job as the client API shows it (Runpod's field names; times
// in whole milliseconds). delayTime appears once a worker has taken the job,
// executionTime once it runs (growing until it finishes), output on
// COMPLETED and, while IN_PROGRESS, the latest progress update.
type JobView struct {
	DelayTime     *int64          `json:"delayTime,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	ID            string          `json:"id"`
	Output        json.RawMessage `json:"output,omitempty"`
	Retries       int             `json:"retries,omitempty"`
	Status        engine.Status   `json:"status"`
	WorkerID      string          `json:"workerId,omitempty"`
}

// StreamView is a /stream answer: the chunks since the previous read.
type StreamView struct {
	DelayTime *int64          `json:"delayTime,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
	ID        string          `json:"id"`
	Status    engine.Status   `json:"status"`
	Stream    []StreamChunk   `json:"stream"`
}

// StreamChunk is one element of StreamView.Stream.
type StreamChunk struct {
	Output json.RawMessage `json:"output"`
}

// SubmittedView answers /run, /cancel and /retry: {"id", "status"}.
type SubmittedView struct {
	ID     string        `json:"id"`
	Status engine.Status `json:"status"`
}

// PurgeView answers /purge-queue.
type PurgeView struct {
	Removed int    `json:"removed"`
	Status  string `json:"status"`
}

func millis(d time.Duration) *int64 {
	ms := d.Milliseconds()
	return &ms
}

// ViewOf is j as the client API shows it.
func ViewOf(j *engine.Job) JobView {
	v := JobView{ID: j.ID, Status: j.Status, WorkerID: j.WorkerID, Retries: j.Retries}
	if !j.StartedAt.IsZero() {
		v.DelayTime = millis(j.DelayTime())
		v.ExecutionTime = millis(j.ExecutionTime())
	}
	if !isNull(j.Output) && !(j.IsStream && isEmptyList(j.Output)) {
		// A streaming job's final [] (no return_aggregate_stream) is no
		// output, as on Runpod: its chunks were read with /stream.
		v.Output = j.Output
	}
	if !isNull(j.Error) {
		v.Error = j.Error
	}
	return v
}

func isEmptyList(raw json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(raw, &a) == nil && len(a) == 0
}

// streamViewOf is j with chunks as /stream shows them.
func streamViewOf(j *engine.Job, chunks []json.RawMessage) StreamView {
	v := StreamView{ID: j.ID, Status: j.Status, Stream: make([]StreamChunk, 0, len(chunks))}
	if !j.StartedAt.IsZero() {
		v.DelayTime = millis(j.DelayTime())
	}
	if j.Status.Terminal() && !isNull(j.Error) {
		v.Error = j.Error
	}
	for _, c := range chunks {
		v.Stream = append(v.Stream, StreamChunk{Output: c})
	}
	return v
}
