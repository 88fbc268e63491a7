package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"strings"
	"testing"
)

func TestExecRejectsUnusableConfigAndJob(t *testing.T) {
	job, err := NewJob("j", 1)
	if err != nil {
		t.Fatal(err)
	}
	h := func(ctx context.Context, job *Job) (any, error) { return nil, nil }
	s := func(ctx context.Context, job *Job) iter.Seq2[any, error] { return nil }
	for name, c := range map[string]struct {
		cfg Config
		job *Job
	}{
		"no handler":   {Config{}, job},
		"two handlers": {Config{Handler: h, StreamHandler: s}, job},
		"nil job":      {Config{Handler: h}, nil},
	} {
		if _, err := execChecked(context.Background(), c.cfg, c.job, execOptions{}); err == nil {
			t.Errorf("%s: exec returned no error", name)
		}
	}
	if _, err := NewJob("j", make(chan int)); err == nil {
		t.Error("NewJob with an unencodable input returned no error")
	}
	if _, err := NewJob("", 1); err == nil {
		t.Error("NewJob with an empty id returned no error")
	}
}

func TestExecResultFields(t *testing.T) {
	job, err := NewJob("j", json.RawMessage(`{"a": "<b>"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := execChecked(context.Background(), Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		return map[string]any{"in": job.Input, "refresh_worker": true}, nil
	}}, job, execOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ In struct{ A string } }
	if err := json.Unmarshal(res.Output, &out); err != nil || out.In.A != "<b>" {
		t.Errorf("output: %+v, %v", out, err)
	}
	if !res.StopPod || res.Failed || res.Error != "" || res.ErrorMessage != "" || res.Err != nil {
		t.Errorf("result %+v, want stopPod and no failure", res)
	}
	if !strings.Contains(string(res.Body), `"<b>"`) {
		t.Errorf("body %s escapes HTML; runpod-python does not", res.Body)
	}

	// A stream error is a plain string; ErrorMessage is that string and
	// Err the yielded error.
	errBad := errors.New("bad chunk")
	res, err = execChecked(context.Background(), Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			if yield("<first>", nil) {
				yield(nil, errBad)
			}
		}
	}}, job, execOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed || !errors.Is(res.Err, errBad) || !strings.HasPrefix(res.ErrorMessage, "handler: bad chunk") {
		t.Errorf("stream failure %+v", res)
	}
	if len(res.Chunks) != 1 || string(res.Chunks[0]) != `"<first>"` || res.Output != nil {
		t.Errorf("chunks %q, output %s; want the one chunk before the error, unescaped, and no output", res.Chunks, res.Output)
	}

	// A non-string error value is kept as JSON text.
	res, _ = execChecked(context.Background(), Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		return map[string]any{"error": map[string]int{"code": 7}}, nil
	}}, job, execOptions{})
	if !res.Failed || res.Error != `{"code":7}` || res.ErrorMessage != `{"code":7}` {
		t.Errorf("object error: Error %q, ErrorMessage %q", res.Error, res.ErrorMessage)
	}
}
