// Package serverlesstest runs serverless handlers in tests, without a
// platform, a network or a subprocess.
//
// Run sends one job through the same execution path the production worker
// uses (serverless.Exec: panic recovery, runpod-python's result mapping,
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
	"testing"

	"github.com/sluicehq/sluice/serverless"
)

// DefaultJobID is the id of the job Run builds, unless WithJobID is given.
const DefaultJobID = "test_job"

// Result is what a job produced; see serverless.Result for the fields.
type Result struct {
	serverless.Result
}

// Option changes how Run builds or runs the job.
type Option func(*options)

type options struct {
	ctx  context.Context
	id   string
	exec []serverless.ExecOption
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

// WithExecOptions passes options through to serverless.Exec, for example
// serverless.OnChunk to watch chunks while the handler runs.
func WithExecOptions(opts ...serverless.ExecOption) Option {
	return func(o *options) { o.exec = append(o.exec, opts...) }
}

// Run runs cfg's handler on one job whose input is input (encoded with
// encoding/json; a json.RawMessage is used as is) and returns the result.
// A job that fails is a normal Result; Run fails the test only when the
// job cannot be built or cfg is unusable.
func Run(t testing.TB, cfg serverless.Config, input any, opts ...Option) *Result {
	t.Helper()
	o := options{ctx: t.Context(), id: DefaultJobID}
	for _, opt := range opts {
		opt(&o)
	}
	job, err := serverless.NewJob(o.id, input)
	if err != nil {
		t.Fatalf("serverlesstest: %v", err)
	}
	return RunJob(t, cfg, job, opts...)
}

// RunJob is Run for a job built by the caller, for example with
// serverless.ParseJob to include fields besides "id" and "input".
func RunJob(t testing.TB, cfg serverless.Config, job *serverless.Job, opts ...Option) *Result {
	t.Helper()
	o := options{ctx: t.Context()}
	for _, opt := range opts {
		opt(&o)
	}
	res, err := serverless.Exec(o.ctx, cfg, job, o.exec...)
	if err != nil {
		t.Fatalf("serverlesstest: %v", err)
	}
	return &Result{Result: res}
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
