package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/wire"
)

// outcome is the final result of running one job's handler.
type outcome struct {
	// body is the JSON body for job-done: {"output": ...}, {"error": ...},
	// {"stopPod": true}, {} ... (docs/spec/runpod-worker-protocol.md 2.2-2.5).
	body []byte
	// failed is true when body has a truthy "error".
	failed bool
	// stopPod is true when body carries "stopPod": true.
	stopPod bool
	// cause is what failed the job: the handler's error, a recovered panic
	// (*panicError), a yielded error or an encoding error. Nil otherwise,
	// and nil when the handler returned a map with a truthy "error".
	cause error
	// payload is the error object put in body for a returned error or a
	// panic of a non-streaming handler; nil otherwise. Callers log it.
	payload *errorPayload
}

// jobSink receives what a running job emits besides its final result.
type jobSink interface {
	// chunk is called for each streamed value, in order, before the handler
	// resumes. output is the value already encoded as JSON: its dynamic
	// type is json.RawMessage, so json.Marshal reproduces it. A non-nil error while ctx is still live does not
	// stop the stream (runpod-python carries on); once ctx is done the
	// stream stops.
	chunk(ctx context.Context, output any) error
	// progress is called for each ProgressUpdate, in order. Its error is
	// returned to the handler.
	progress(ctx context.Context, progress any) error
}

// errJobFinished is returned by ProgressUpdate once the job's result is known.
var errJobFinished = errors.New("job already finished")

// runJob runs cfg's handler (or stream handler) on job, recovering panics,
// and maps the return value to the job-done body exactly as runpod-python
// does (docs/spec/runpod-worker-protocol.md 2.2-2.4). The final aggregate list is built when
// cfg.ReturnAggregateStream is set, and stopPod is added to every body when
// cfg.RefreshWorker is set. It wires job's ProgressUpdate to sink (a nil
// sink discards chunks and progress). It never panics.
func runJob(ctx context.Context, cfg *Config, job *Job, sink jobSink) outcome {
	var finished atomic.Bool
	job.progress = func(ctx context.Context, p any) error {
		if finished.Load() {
			return fmt.Errorf("progress update for job %s: %w", job.ID, errJobFinished)
		}
		if sink == nil {
			return nil
		}
		return sink.progress(ctx, p)
	}
	defer finished.Store(true)

	var o outcome
	if cfg.StreamHandler != nil {
		o = runStream(ctx, cfg, job, sink)
	} else {
		o = runHandler(ctx, cfg, job)
	}
	return o
}

// runHandler runs a non-streaming handler and maps its result (docs/spec/runpod-worker-protocol.md 2.2, 2.3).
func runHandler(ctx context.Context, cfg *Config, job *Job) outcome {
	v, err := callHandler(ctx, cfg.Handler, job)
	if err != nil {
		return failure(cfg, err, false)
	}
	m := mapResult(v)
	stopPod := m.stopPod || cfg.RefreshWorker
	fields := m.fields
	if stopPod {
		fields = append(fields, field{keyStopPod, true})
	}
	body, encErr := encodeObject(fields...)
	if encErr != nil {
		err := fmt.Errorf("job %s: result cannot be encoded as JSON: %w", job.ID, encErr)
		return failure(cfg, &stackError{err: err, stack: debug.Stack()}, stopPod)
	}
	return outcome{body: body, failed: m.failed, stopPod: stopPod}
}

// callHandler calls h, turning a panic into a *panicError.
func callHandler(ctx context.Context, h HandlerFunc, job *Job) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, &panicError{value: r, stack: debug.Stack()}
		}
	}()
	v, err = h(ctx, job)
	if err != nil {
		// A returned error carries no stack; report where it surfaced.
		err = &stackError{err: err, stack: debug.Stack()}
	}
	return v, err
}

// stackError is a returned handler error with the stack it surfaced on.
type stackError struct {
	err   error
	stack []byte
}

func (s *stackError) Error() string { return s.err.Error() }
func (s *stackError) Unwrap() error { return s.err }

// failure builds the FAILED outcome of a non-streaming job: "error" holds
// the JSON string of an errorPayload (docs/spec/runpod-worker-protocol.md 2.3).
func failure(cfg *Config, err error, stopPod bool) outcome {
	stopPod = stopPod || cfg.RefreshWorker
	var stack []byte
	var se *stackError
	if errors.As(err, &se) {
		stack = se.stack
		err = se.err
	}
	p := newErrorPayload(err, stack)
	fields := []field{{keyError, p.String()}}
	if stopPod {
		fields = append(fields, field{keyStopPod, true})
	}
	body, encErr := encodeObject(fields...)
	if encErr != nil { // strings and a bool only: cannot happen
		body = []byte(`{"error":"internal error: cannot encode error payload"}`)
	}
	return outcome{body: body, failed: true, stopPod: stopPod, cause: err, payload: &p}
}

// runStream iterates a streaming handler (docs/spec/runpod-worker-protocol.md 2.4): each chunk goes to
// sink in order; a yielded error, a yielded map with a truthy "error", an
// unencodable chunk or a panic ends the stream with a plain-string error.
func runStream(ctx context.Context, cfg *Config, job *Job, sink jobSink) (o outcome) {
	aggregate := []json.RawMessage{}
	// ended is the outcome decided inside the loop. An iterator that
	// ignores yield's false return panics in the range statement; the
	// decided outcome then stands.
	var ended *outcome
	end := func(e outcome) outcome {
		ended = &e
		return e
	}
	defer func() {
		if r := recover(); r != nil {
			if ended != nil {
				o = *ended
				return
			}
			o = streamFailure(cfg, &panicError{value: r, stack: debug.Stack()}, nil)
		}
	}()
	for v, err := range cfg.StreamHandler(ctx, job) {
		if err != nil {
			return end(streamFailure(cfg, err, debug.Stack()))
		}
		if dict, ok := asDict(v); ok && wire.TruthyValue(dict[keyError]) {
			return end(streamErrorValue(cfg, dict[keyError]))
		}
		raw, encErr := marshal(v)
		if encErr != nil {
			return end(streamFailure(cfg, fmt.Errorf("job %s: stream chunk cannot be encoded as JSON: %w", job.ID, encErr), debug.Stack()))
		}
		if cfg.ReturnAggregateStream {
			aggregate = append(aggregate, raw)
		}
		if sink != nil {
			if err := sink.chunk(ctx, raw); err != nil && ctx.Err() != nil {
				break
			}
		}
	}
	output := aggregate
	if !cfg.ReturnAggregateStream {
		output = []json.RawMessage{}
	}
	fields := []field{{keyOutput, output}}
	if cfg.RefreshWorker {
		fields = append(fields, field{keyStopPod, true})
	}
	body, err := encodeObject(fields...)
	if err != nil { // chunks were each encoded already: cannot happen
		return streamFailure(cfg, fmt.Errorf("job %s: encode stream result: %w", job.ID, err), nil)
	}
	return outcome{body: body, stopPod: cfg.RefreshWorker}
}

// streamFailure ends a stream with runpod-python's generator error string:
// "handler: <message> \ntraceback: <stack>".
func streamFailure(cfg *Config, err error, stack []byte) outcome {
	var pe *panicError
	if errors.As(err, &pe) {
		stack = pe.stack
	}
	o := streamErrorValue(cfg, fmt.Sprintf("handler: %s \ntraceback: %s", err.Error(), stack))
	o.cause = err
	return o
}

// streamErrorValue ends a stream with {"error": str(v)}: a string as is,
// anything else as its JSON text.
func streamErrorValue(cfg *Config, v any) outcome {
	s, ok := v.(string)
	if !ok {
		raw, err := marshal(v)
		if err != nil {
			s = fmt.Sprint(v)
		} else {
			s = string(raw)
		}
	}
	fields := []field{{keyError, s}}
	if cfg.RefreshWorker {
		fields = append(fields, field{keyStopPod, true})
	}
	body, err := encodeObject(fields...)
	if err != nil { // a string and a bool only: cannot happen
		body = []byte(`{"error":"internal error: cannot encode stream error"}`)
	}
	return outcome{body: body, failed: true, stopPod: cfg.RefreshWorker, cause: errors.New(s)}
}
