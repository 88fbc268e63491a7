package wire

import "strconv"

// Worker routes under /v2/{endpoint}/ (docs/spec/runpod-worker-protocol.md
// section 1).
const (
	RouteJobTake      = "job-take"       // GET  job-take/{worker}: long poll for one job
	RouteJobTakeBatch = "job-take-batch" // GET  job-take-batch/{worker}?batch_size=n
	RouteJobDone      = "job-done"       // POST job-done/{worker}/{job}: result or progress
	RouteJobStream    = "job-stream"     // POST job-stream/{worker}/{job}: one chunk
	RouteJobStop      = "job-stop"       // GET  job-stop/{worker}: long poll for cancelled jobs
	RoutePing         = "ping"           // GET  ping/{worker}: heartbeat
)

// The RUNPOD_* variables a worker reads (docs/spec/runpod-worker-protocol.md
// section 1.1).
const (
	EnvGetJob       = "RUNPOD_WEBHOOK_GET_JOB"
	EnvPostOutput   = "RUNPOD_WEBHOOK_POST_OUTPUT"
	EnvPostStream   = "RUNPOD_WEBHOOK_POST_STREAM"
	EnvPing         = "RUNPOD_WEBHOOK_PING"
	EnvAPIKey       = "RUNPOD_AI_API_KEY"
	EnvPodID        = "RUNPOD_POD_ID"
	EnvEndpointID   = "RUNPOD_ENDPOINT_ID"
	EnvPingInterval = "RUNPOD_PING_INTERVAL"
	EnvPodHostname  = "RUNPOD_POD_HOSTNAME"
	EnvGPUCount     = "RUNPOD_GPU_COUNT"
	EnvInitTimeout  = "RUNPOD_INIT_TIMEOUT"
)

// WorkerEnv describes the server a worker talks to.
type WorkerEnv struct {
	BaseURL  string // e.g. http://127.0.0.1:8080, no trailing slash
	Endpoint string // endpoint id
	Key      string // the endpoint's worker key
	WorkerID string // RUNPOD_POD_ID, one per worker process
	// PingIntervalMs is RUNPOD_PING_INTERVAL in milliseconds.
	PingIntervalMs int64
}

// Environ returns the RUNPOD_* variables of one worker as KEY=value
// strings (os/exec style): the URL templates (with the placeholders
// runpod-python substitutes and the trailing "?" its bare "&" parameters
// need), the key, the worker id, the endpoint id and the ping interval.
func (w WorkerEnv) Environ() []string {
	ep := w.BaseURL + "/v2/" + w.Endpoint + "/"
	return []string{
		EnvGetJob + "=" + ep + RouteJobTake + "/$ID?",
		EnvPostOutput + "=" + ep + RouteJobDone + "/$RUNPOD_POD_ID/$ID?",
		EnvPostStream + "=" + ep + RouteJobStream + "/$RUNPOD_POD_ID/$ID?",
		EnvPing + "=" + ep + RoutePing + "/$RUNPOD_POD_ID",
		EnvAPIKey + "=" + w.Key,
		EnvPodID + "=" + w.WorkerID,
		EnvEndpointID + "=" + w.Endpoint,
		EnvPingInterval + "=" + strconv.FormatInt(w.PingIntervalMs, 10),
	}
}
