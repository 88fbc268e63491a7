package serverless

import (
	"context"
	"fmt"
	"iter"
)

// HandlerFunc handles one job and returns its output.
//
// The returned value is sent as the job's output, {"output": v}, as
// runpod-python does. A returned map with string keys is treated like a
// Python dict: a truthy "error" key (in the Python sense: not null, false,
// 0, "", [] or {}) fails the job with that value as its error; a truthy
// "refresh_worker" key asks the platform to replace the worker after this
// job (stopPod; Refresh is the same as a Go value); both keys are removed from the output, and a map left empty
// sends no output at all. {"output": x} is not unwrapped. Structs and other
// values are plain outputs.
//
// A returned error or a panic fails the job: its "error" is runpod-python's
// JSON string with error_type (the Go type, or "panic"), error_message,
// error_traceback (the Go stack), hostname, worker_id and runpod_version. A
// panic never stops the worker. A result that cannot be encoded as JSON
// fails the job the same way.
//
// ctx is cancelled when the platform stops the job through its job-stop
// channel (no result is posted then) or when the worker is shut down hard
// (a second SIGTERM/SIGINT; the result the handler returns is still
// posted). A first SIGTERM only stops the worker taking new jobs: running
// jobs finish with ctx alive, as with runpod-python.
type HandlerFunc func(ctx context.Context, job *Job) (any, error)

// Refresh wraps a handler's output to ask the platform to replace the
// worker once this job is done (stopPod), like runpod-python's
// "refresh_worker": true key, but as a Go value: output is sent as if it
// had been returned bare.
//
//	return serverless.Refresh(out), nil
func Refresh(output any) any { return refreshed{output: output} }

// refreshed is an output wrapped by Refresh.
type refreshed struct{ output any }

// StreamFunc handles one job by yielding output chunks. Each chunk is posted
// to the job's stream as {"output": chunk}, in order, before the iterator
// resumes. A yielded error, a yielded map with a truthy "error", a chunk
// that cannot be encoded as JSON or a panic fails the job and ends the
// stream; that chunk is not posted. The final result is {"output": []}, or
// the list of every chunk with Config.ReturnAggregateStream. ctx behaves as
// for HandlerFunc.
type StreamFunc func(ctx context.Context, job *Job) iter.Seq2[any, error]

// Typed adapts a function on a typed input to a HandlerFunc. The job's input
// is decoded into In; a decode failure fails the job with a message naming
// the offending field.
func Typed[In, Out any](fn func(ctx context.Context, in In) (Out, error)) HandlerFunc {
	return func(ctx context.Context, job *Job) (any, error) {
		var in In
		if err := job.Decode(&in); err != nil {
			return nil, fmt.Errorf("invalid input: %w", err)
		}
		return fn(ctx, in)
	}
}

// ProgressUpdate reports progress for a running job. The platform shows it
// as the job's output while the job is IN_PROGRESS. Unlike runpod-python's
// fire-and-forget update, the call returns once the platform has accepted
// the update (retrying for up to 30 seconds), so updates for one job arrive
// in order and before the job's final result. It fails once the job has
// finished or been stopped by the platform. Cancelling ctx does not abandon
// the update: a job whose ctx was cancelled by a hard shutdown still
// reports progress.
func ProgressUpdate(ctx context.Context, job *Job, progress any) error {
	if job == nil || job.progress == nil {
		return fmt.Errorf("progress update: job %q is not running under serverless", jobID(job))
	}
	return job.progress(ctx, progress)
}

func jobID(j *Job) string {
	if j == nil {
		return ""
	}
	return j.ID
}
