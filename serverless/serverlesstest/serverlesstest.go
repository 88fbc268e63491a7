// Package serverlesstest runs serverless handlers in tests, without a
// platform, a network or a subprocess.
//
// Run sends one job through the same execution path the production worker
// uses (panic recovery, runpod-python's result mapping,
// stream handling, RefreshWorker) and returns everything the platform would
// have seen: the job-done body, the output or error, every streamed chunk
// and every progress update, in order.
//
//	func TestGreet(t *testing.T) {
//		res := serverlesstest.Run(t, serverless.Config{Handler: greet}, map[string]any{"name": "Ada"})
//		res.RequireCompleted(t)
//		got := serverlesstest.Decode[map[string]string](t, res.Output)
//		if got["greeting"] != "hello Ada" {
//			t.Errorf("greeting %q", got["greeting"])
//		}
//	}
package serverlesstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/internal/exectest"
)

// DefaultJobID is the id of the job Run builds, unless WithJobID is given.
const DefaultJobID = "test_job"

// Result is what one job produced: its final job-done body and everything
// it emitted on the way. The fields are:
//
//   - Body: the job-done body the production worker would post, exactly:
//     {"output": ...}, {"error": ...}, {"stopPod": true}, or a combination.
//   - Output: Body's "output" value, nil when the body has none.
//   - Error: Body's "error" value when the job failed: the string itself
//     when the value is a JSON string, otherwise its JSON text. Empty when
//     the job did not fail.
//   - ErrorMessage: the handler's own message when the job failed: for a
//     returned error or a panic, the "error_message" of the error object
//     runpod-python's format puts in Error; otherwise Error itself.
//   - Err: what failed the job when the SDK saw it as a Go error (the
//     handler's returned or yielded error, usable with errors.Is and
//     errors.As, a recovered panic, or an encoding failure); nil for a job
//     that succeeded or that returned a map with an "error" key.
//   - Failed: the job failed (Body has a truthy "error").
//   - StopPod: the job asked the platform to replace the worker
//     (Config.RefreshWorker, serverless.Refresh, or "refresh_worker").
//   - Chunks: the values a StreamHandler yielded, in order, as JSON.
//   - Progress: the values passed to ProgressUpdate, in order, as JSON.
type Result struct {
	exectest.Result
}

// DecodeOutput decodes Output into v, which must be a pointer.
func (r *Result) DecodeOutput(v any) error {
	if r.Output == nil {
		return errors.New("decode output: result has no output")
	}
	if err := json.Unmarshal(r.Output, v); err != nil {
		return fmt.Errorf("decode output: %w", err)
	}
	return nil
}

// Option changes how Run builds or runs the job.
type Option func(*options)

type options struct {
	ctx   context.Context
	id    string
	hooks exectest.Hooks
}

// WithContext runs the job under ctx instead of the test's context, for
// example to test that a handler honours cancellation.
func WithContext(ctx context.Context) Option {
	return func(o *options) { o.ctx = ctx }
}

// WithJobID sets the job's id. Defaults to DefaultJobID.
func WithJobID(id string) Option {
	return func(o *options) { o.id = id }
}

// OnChunk calls fn with each streamed chunk as it is yielded, before the
// stream handler resumes. An error from fn is treated like a failed post of
// that chunk.
func OnChunk(fn func(ctx context.Context, chunk json.RawMessage) error) Option {
	return func(o *options) { o.hooks.OnChunk = fn }
}

// OnProgress calls fn with each ProgressUpdate as it is made.
func OnProgress(fn func(ctx context.Context, progress json.RawMessage) error) Option {
	return func(o *options) { o.hooks.OnProgress = fn }
}

// Exec runs cfg's handler on one job whose input is input (encoded with
// encoding/json; a json.RawMessage is used as is) through the production
// worker's execution path (panic recovery, result mapping, stream
// handling, RefreshWorker), without network I/O, and returns what the
// platform would have received. The error is non-nil only when the job
// cannot be built or cfg is unusable; a failed job is a normal Result. Run
// is Exec for tests.
func Exec(ctx context.Context, cfg serverless.Config, input any, opts ...Option) (*Result, error) {
	o := options{ctx: ctx, id: DefaultJobID}
	for _, opt := range opts {
		opt(&o)
	}
	job, err := serverless.NewJob(o.id, input)
	if err != nil {
		return nil, err
	}
	return exec(cfg, job, o)
}

// ExecRaw is Exec for a job object as job-take sends it
// ({"id": ..., "input": ..., other fields readable with Job.Field}).
func ExecRaw(ctx context.Context, cfg serverless.Config, job []byte, opts ...Option) (*Result, error) {
	o := options{ctx: ctx}
	for _, opt := range opts {
		opt(&o)
	}
	j, err := exectest.ParseJob(job)
	if err != nil {
		return nil, err
	}
	return exec(cfg, j, o)
}

func exec(cfg serverless.Config, job any, o options) (*Result, error) {
	res, err := exectest.Exec(o.ctx, cfg, job, o.hooks)
	if err != nil {
		return nil, err
	}
	return &Result{Result: res}, nil
}

// Run is Exec under the test's context that fails the test when the job
// cannot be built or cfg is unusable.
func Run(t testing.TB, cfg serverless.Config, input any, opts ...Option) *Result {
	t.Helper()
	res, err := Exec(t.Context(), cfg, input, opts...)
	if err != nil {
		t.Fatalf("serverlesstest: %v", err)
	}
	return res
}

// RunRaw is ExecRaw for tests, like Run.
func RunRaw(t testing.TB, cfg serverless.Config, job []byte, opts ...Option) *Result {
	t.Helper()
	res, err := ExecRaw(t.Context(), cfg, job, opts...)
	if err != nil {
		t.Fatalf("serverlesstest: %v", err)
	}
	return res
}

// RequireCompleted fails the test now, with the job's error, unless the
// job completed.
func (r *Result) RequireCompleted(t testing.TB) {
	t.Helper()
	if r.Failed {
		t.Fatalf("job failed: %s\nbody: %s", r.ErrorMessage, r.Body)
	}
}

// RequireFailed fails the test now unless the job failed, and returns the
// handler's error message (see serverless.Result.ErrorMessage).
func (r *Result) RequireFailed(t testing.TB) string {
	t.Helper()
	if !r.Failed {
		t.Fatalf("job completed, want it to fail\nbody: %s", r.Body)
	}
	return r.ErrorMessage
}

// Decode decodes one JSON value, such as Result.Output, a chunk or a
// progress update, into a T, failing the test if it cannot.
func Decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if raw == nil {
		t.Fatalf("serverlesstest: decode %T: no value", v)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("serverlesstest: decode %s into %T: %v", raw, v, err)
	}
	return v
}

// Chunks decodes every streamed chunk of r into a T, in order.
func Chunks[T any](t testing.TB, r *Result) []T {
	t.Helper()
	out := make([]T, 0, len(r.Chunks))
	for _, c := range r.Chunks {
		out = append(out, Decode[T](t, c))
	}
	return out
}

// Progress decodes every progress update of r into a T, in order.
func Progress[T any](t testing.TB, r *Result) []T {
	t.Helper()
	out := make([]T, 0, len(r.Progress))
	for _, p := range r.Progress {
		out = append(out, Decode[T](t, p))
	}
	return out
}
