package serverless

import (
	"context"
	"fmt"
	"iter"
)

// HandlerFunc handles one job and returns its output.
//
// The returned value is sent as the job's output. A returned map with a
// truthy "error" key fails the job with that error; a truthy "refresh_worker"
// key asks the platform to replace the worker after this job (stopPod). A
// returned error or a panic fails the job.
type HandlerFunc func(ctx context.Context, job *Job) (any, error)

// StreamFunc handles one job by yielding output chunks. Each chunk is posted
// to the job's stream in order; a yielded error fails the job and ends the
// stream.
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
// as the job's output while the job is IN_PROGRESS. Updates for one job are
// delivered in order and before the job's final result.
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
