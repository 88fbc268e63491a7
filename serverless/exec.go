package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/serverless/internal/exectest"
)

// result is what one job produced (serverlesstest.Result documents it).
type result = exectest.Result

// execOptions are the hooks called while a job runs.
type execOptions = exectest.Hooks

func init() {
	exectest.Exec = func(ctx context.Context, cfg, job any, h exectest.Hooks) (exectest.Result, error) {
		c, ok := cfg.(Config)
		if !ok {
			return result{}, fmt.Errorf("exec: config is a %T, not a serverless.Config", cfg)
		}
		j, _ := job.(*Job)
		return execChecked(ctx, c, j, h)
	}
	exectest.ParseJob = func(data []byte) (any, error) { return parseJob(data) }
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
	job, err := parseJob(raw)
	if err != nil {
		return nil, fmt.Errorf("new job %s: %w", id, err)
	}
	return job, nil
}

// execChecked runs cfg's handler on one job through the same execution
// path as the production worker (panic recovery, result mapping, stream
// handling, RefreshWorker) and returns what the platform would have
// received, without network I/O: the test kit's way in (exectest.Exec).
// The error is non-nil only when cfg or job is unusable; a failed job is
// reported in the result.
func execChecked(ctx context.Context, cfg Config, job *Job, o execOptions) (result, error) {
	if err := validateConfig(&cfg); err != nil {
		return result{}, fmt.Errorf("exec: %w", err)
	}
	if job == nil {
		return result{}, errors.New("exec: job is nil")
	}
	res, _ := execJob(ctx, &cfg, job, o)
	return res, nil
}

// execJob runs job and also returns the error object of a failed
// non-streaming handler, for the caller to log.
func execJob(ctx context.Context, cfg *Config, job *Job, o execOptions) (result, *errorPayload) {
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

// resultFromBody splits a job-done body into result fields.
func resultFromBody(body []byte) result {
	res := result{Body: json.RawMessage(body)}
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

// execSink records what a job emits and forwards it to the hooks.
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
	if s.opts.OnChunk != nil {
		return s.opts.OnChunk(ctx, raw)
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
	if s.opts.OnProgress != nil {
		return s.opts.OnProgress(ctx, raw)
	}
	return nil
}
