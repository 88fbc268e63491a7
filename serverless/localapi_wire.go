package serverless

import (
	"encoding/json"
	"net/http"
)

// Job statuses as Runpod's API spells them.
const (
	statusInQueue    = "IN_QUEUE"
	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
	statusFailed     = "FAILED"
	statusCancelled  = "CANCELLED"
	statusTimedOut   = "TIMED_OUT"
)

func isTerminal(status string) bool {
	switch status {
	case statusCompleted, statusFailed, statusCancelled, statusTimedOut:
		return true
	}
	return false
}

// statusLine is the body of /run, /runsync, /status, /cancel and webhooks,
// in Runpod's shape. A nil field is left out.
type statusLine struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	DelayTime     *int64          `json:"delayTime,omitempty"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
}

// streamLine is the body of /stream: like statusLine, but "stream" is
// always present (runpod-python's sync client needs it in final answers)
// and "output" is never sent.
type streamLine struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	DelayTime     *int64          `json:"delayTime,omitempty"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
	Stream        []streamChunk   `json:"stream"`
}

// streamChunk is one element of a /stream body's "stream" list.
type streamChunk struct {
	Output json.RawMessage `json:"output"`
}

// healthBody is the body of /health.
type healthBody struct {
	Jobs    healthJobs    `json:"jobs"`
	Workers healthWorkers `json:"workers"`
}

type healthJobs struct {
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	InProgress int `json:"inProgress"`
	InQueue    int `json:"inQueue"`
	Retried    int `json:"retried"`
}

type healthWorkers struct {
	Idle         int `json:"idle"`
	Initializing int `json:"initializing"`
	Ready        int `json:"ready"`
	Running      int `json:"running"`
	Throttled    int `json:"throttled"`
	Unhealthy    int `json:"unhealthy"`
}

// purgeBody is the body of /purge-queue.
type purgeBody struct {
	Removed int    `json:"removed"`
	Status  string `json:"status"`
}

// errorBody is the body of every 4xx answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data = []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}
