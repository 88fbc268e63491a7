package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Result is what one job produced when run by Exec: its final job-done body
// and everything it emitted on the way.
type Result struct {
	// Body is the job-done body the production worker would post, exactly:
	// {"output": ...}, {"error": ...}, {"stopPod": true}, or a combination.
	Body json.RawMessage
	// Output is Body's "output" value, nil when the body has none.
	Output json.RawMessage
	// Error is Body's "error" value when the job failed: the string itself
	// when the value is a JSON string, otherwise its JSON text. Empty when
	// the job did not fail.
	Error string
	// ErrorMessage is the handler's own message when the job failed: for a
	// returned error or a panic, the "error_message" of the error object
	// runpod-python's format puts in Error; otherwise Error itself.
	ErrorMessage string
	// Err is what failed the job when the SDK saw it as a Go error: the
	// handler's returned or yielded error (usable with errors.Is and
	// errors.As), a recovered panic, or an encoding failure. It is nil for a
	// job that succeeded or that returned a map with an "error" key.
	Err error
	// Failed reports that the job failed (Body has a truthy "error").
	Failed bool
	// StopPod reports that the job asked the platform to replace the
	// worker (Config.RefreshWorker, or a returned "refresh_worker").
	StopPod bool
	// Chunks are the values a StreamHandler yielded and the platform would
	// have received on the job's stream, in order, as JSON.
	Chunks []json.RawMessage
	// Progress are the values passed to ProgressUpdate, in order, as JSON.
	Progress []json.RawMessage
}

// DecodeOutput decodes Output into v, which must be a pointer.
func (r Result) DecodeOutput(v any) error {
	if r.Output == nil {
		return errors.New("decode output: result has no output")
	}
	if err := json.Unmarshal(r.Output, v); err != nil {
		return fmt.Errorf("decode output: %w", err)
	}
	return nil
}

// ExecOption changes how Exec runs a job.
type ExecOption func(*execOptions)

type execOptions struct {
	onChunk    func(ctx context.Context, chunk json.RawMessage) error
	onProgress func(ctx context.Context, progress json.RawMessage) error
}

// OnChunk makes Exec call fn with each streamed chunk as it is yielded,
// before the stream handler resumes. An error from fn is treated like a
// failed post of that chunk.
func OnChunk(fn func(ctx context.Context, chunk json.RawMessage) error) ExecOption {
	return func(o *execOptions) { o.onChunk = fn }
}

// OnProgress makes Exec call fn with each ProgressUpdate as it is made.
func OnProgress(fn func(ctx context.Context, progress json.RawMessage) error) ExecOption {
	return func(o *execOptions) { o.onProgress = fn }
}

// NewJob builds a job with the given id and input, as if the platform had
// sent {"id": id, "input": input}. input is encoded with encoding/json; a
// json.RawMessage is used as is.
func NewJob(id string, input any) (*Job, error) {
	raw, err := marshal(struct {
		ID    string `json:"id"`
		Input any    `json:"input"`
	}{id, input})
	if err != nil {
		return nil, fmt.Errorf("new job %s: %w", id, err)
	}
	job, err := ParseJob(raw)
	if err != nil {
		return nil, fmt.Errorf("new job %s: %w", id, err)
	}
	return job, nil
}

// Exec runs cfg's handler on one job through the same execution path as the
// production worker (panic recovery, result mapping, stream handling,
// RefreshWorker) and returns what the platform would have received. It does
// no network I/O. The job's context is ctx.
//
// Exec is the building block of the local modes and of the serverlesstest
// package; most programs call Start instead. The error is non-nil only when
// cfg or job is unusable; a failed job is reported in Result.
func Exec(ctx context.Context, cfg Config, job *Job, opts ...ExecOption) (Result, error) {
	if err := validateConfig(&cfg); err != nil {
		return Result{}, fmt.Errorf("exec: %w", err)
	}
	if job == nil {
		return Result{}, errors.New("exec: job is nil")
	}
	var o execOptions
	for _, opt := range opts {
		opt(&o)
	}
	res, _ := execJob(ctx, &cfg, job, o)
	return res, nil
}

// execJob runs job and also returns the error object of a failed
// non-streaming handler, for the caller to log.
func execJob(ctx context.Context, cfg *Config, job *Job, o execOptions) (Result, *errorPayload) {
	s := &execSink{opts: o}
	out := runJob(ctx, cfg, job, s)
	res := resultFromBody(out.body)
	res.Failed, res.StopPod, res.Err = out.failed, out.stopPod, out.cause
	if !res.Failed {
		res.Error, res.Err = "", nil
	}
	res.ErrorMessage = res.Error
	if out.payload != nil {
		res.ErrorMessage = out.payload.ErrorMessage
	}
	s.mu.Lock()
	res.Chunks, res.Progress = s.chunks, s.progressSeen
	s.mu.Unlock()
	return res, out.payload
}

// resultFromBody splits a job-done body into Result fields.
func resultFromBody(body []byte) Result {
	res := Result{Body: json.RawMessage(body)}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return res
	}
	if v, ok := fields["output"]; ok {
		res.Output = v
	}
	if v, ok := fields["error"]; ok {
		res.Error = errorText(v)
	}
	return res
}

// errorText renders an "error" value: a JSON string as itself, anything
// else as its JSON text.
func errorText(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	return string(bytes.TrimSpace(v))
}

// execSink records what a job emits and forwards it to the Exec options.
type execSink struct {
	opts         execOptions
	mu           sync.Mutex
	chunks       []json.RawMessage
	progressSeen []json.RawMessage
}

func (s *execSink) chunk(ctx context.Context, output any) error {
	raw, ok := output.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = marshal(output); err != nil {
			return fmt.Errorf("encode stream chunk: %w", err)
		}
	}
	s.mu.Lock()
	s.chunks = append(s.chunks, raw)
	s.mu.Unlock()
	if s.opts.onChunk != nil {
		return s.opts.onChunk(ctx, raw)
	}
	return nil
}

func (s *execSink) progress(ctx context.Context, progress any) error {
	raw, err := marshal(progress)
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	s.mu.Lock()
	s.progressSeen = append(s.progressSeen, raw)
	s.mu.Unlock()
	if s.opts.onProgress != nil {
		return s.opts.onProgress(ctx, raw)
	}
	return nil
}
