// Package logkey holds the log attribute keys every part of Sluice uses, so
// that one filter (jq 'select(.job_id == "...")', or grep job_id=...) finds
// every line about a job, a worker or an endpoint, whichever part wrote it.
//
// Every job-related line carries Endpoint, JobID and WorkerID (WorkerID
// empty when no worker holds the job); every worker-related line carries
// Endpoint and WorkerID.
package logkey

const (
	// Endpoint is the endpoint id.
	Endpoint = "endpoint"
	// JobID is the job id (several ids are joined with commas).
	JobID = "job_id"
	// WorkerID is the worker id (RUNPOD_POD_ID).
	WorkerID = "worker_id"
	// Err is the error of a failed operation.
	Err = "err"
)
