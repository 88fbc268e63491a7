package serverlesstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func TestMain(m *testing.M) {
	testutil.Main(m)
}

func TestRunOutput(t *testing.T) {
	cfg := serverless.Config{Handler: serverless.Typed(func(ctx context.Context, in struct{ Name string }) (map[string]string, error) {
		return map[string]string{"greeting": "hello " + in.Name}, nil
	})}
	res := serverlesstest.Run(t, cfg, map[string]any{"Name": "Ada"})
	res.RequireCompleted(t)
	if got := serverlesstest.Decode[map[string]string](t, res.Output); got["greeting"] != "hello Ada" {
		t.Errorf("output %v", got)
	}
	if string(res.Body) != `{"output":{"greeting":"hello Ada"}}` || res.StopPod || res.Error != "" || res.Err != nil {
		t.Errorf("result %+v", res.Result)
	}
}

func TestRunJobID(t *testing.T) {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) { return job.ID, nil }}
	if got := serverlesstest.Run(t, cfg, 1).Output; string(got) != `"`+serverlesstest.DefaultJobID+`"` {
		t.Errorf("default id output %s", got)
	}
	if got := serverlesstest.Run(t, cfg, 1, serverlesstest.WithJobID("abc")).Output; string(got) != `"abc"` {
		t.Errorf("WithJobID output %s", got)
	}
	cfg.Handler = func(ctx context.Context, job *serverless.Job) (any, error) {
		hook, _ := job.Field("webhook")
		return hook, nil
	}
	if got := serverlesstest.RunRaw(t, cfg, []byte(`{"id":"raw","input":null,"webhook":"h"}`)).Output; string(got) != `"h"` {
		t.Errorf("RunRaw output %s, want the job's webhook field", got)
	}
}

var errNotFound = errors.New("not found")

func TestRunFailures(t *testing.T) {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		switch string(job.Input) {
		case `"returned"`:
			return nil, fmt.Errorf("look up user: %w", errNotFound)
		case `"map"`:
			return map[string]any{"error": "bad request", "hint": "x"}, nil
		default:
			panic("boom")
		}
	}}
	res := serverlesstest.Run(t, cfg, "returned")
	if msg := res.RequireFailed(t); msg != "look up user: not found" {
		t.Errorf("message %q", msg)
	}
	if !errors.Is(res.Err, errNotFound) {
		t.Errorf("Err %v does not wrap errNotFound", res.Err)
	}
	var payload map[string]string
	if err := json.Unmarshal([]byte(res.Error), &payload); err != nil || payload["error_message"] != "look up user: not found" {
		t.Errorf("Error %q is not runpod-python's JSON error object: %v", res.Error, err)
	}

	res = serverlesstest.Run(t, cfg, "map")
	if msg := res.RequireFailed(t); msg != "bad request" || res.Err != nil || string(res.Output) != `{"hint":"x"}` {
		t.Errorf("error map: message %q, Err %v, output %s", msg, res.Err, res.Output)
	}

	res = serverlesstest.Run(t, cfg, "panic")
	if msg := res.RequireFailed(t); msg != "boom" {
		t.Errorf("panic message %q", msg)
	}
}

func TestRunStreamAndProgress(t *testing.T) {
	var seen []string
	cfg := serverless.Config{StreamHandler: func(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for i := range 3 {
				if err := serverless.ProgressUpdate(ctx, job, i); err != nil {
					yield(nil, err)
					return
				}
				if !yield(strings.Repeat("x", i+1), nil) {
					return
				}
			}
		}
	}}
	res := serverlesstest.Run(t, cfg, nil, serverlesstest.OnChunk(func(ctx context.Context, chunk json.RawMessage) error {
		seen = append(seen, string(chunk))
		return nil
	}))
	res.RequireCompleted(t)
	if got := serverlesstest.Chunks[string](t, res); !slices.Equal(got, []string{"x", "xx", "xxx"}) {
		t.Errorf("chunks %v", got)
	}
	if got := serverlesstest.Progress[int](t, res); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("progress %v", got)
	}
	if len(seen) != 3 || string(res.Output) != `[]` {
		t.Errorf("OnChunk saw %v, output %s (want 3 chunks, [] without aggregation)", seen, res.Output)
	}
}

func TestRunStopPodAndContext(t *testing.T) {
	cfg := serverless.Config{RefreshWorker: true, Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := serverlesstest.Run(t, cfg, 1, serverlesstest.WithContext(ctx))
	if !res.StopPod || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("StopPod %v, Err %v; want stopPod and context.Canceled", res.StopPod, res.Err)
	}
}

func TestDecodeOutputAndExecErrors(t *testing.T) {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		if string(job.Input) == "null" {
			return map[string]any{}, nil // a map left empty sends no output
		}
		return map[string]any{"in": job.Input}, nil
	}}
	var out struct{ In struct{ A string } }
	if err := serverlesstest.Run(t, cfg, json.RawMessage(`{"a":"<b>"}`)).DecodeOutput(&out); err != nil || out.In.A != "<b>" {
		t.Errorf("DecodeOutput: %+v, %v", out, err)
	}
	if err := serverlesstest.Run(t, cfg, nil).DecodeOutput(new(any)); err == nil {
		t.Error("DecodeOutput of a result without output returned no error")
	}
	if _, err := serverlesstest.Exec(context.Background(), serverless.Config{}, 1); err == nil {
		t.Error("Exec without a handler returned no error")
	}
	if _, err := serverlesstest.ExecRaw(context.Background(), cfg, []byte(`{"input":1}`)); err == nil {
		t.Error("ExecRaw of a job without an id returned no error")
	}
}

// TestRefreshIsTheMapKeyAsAGoValue: serverless.Refresh(out) and a map with
// "refresh_worker": true produce the same job-done body and stopPod.
func TestRefreshIsTheMapKeyAsAGoValue(t *testing.T) {
	byValue := serverlesstest.Run(t, serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		return serverless.Refresh(map[string]any{"a": 1}), nil
	}}, nil)
	byKey := serverlesstest.Run(t, serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		return map[string]any{"a": 1, "refresh_worker": true}, nil
	}}, nil)
	if !byValue.StopPod || string(byValue.Body) != string(byKey.Body) || byKey.StopPod != byValue.StopPod {
		t.Errorf("Refresh: stopPod %v body %s; map key: stopPod %v body %s", byValue.StopPod, byValue.Body, byKey.StopPod, byKey.Body)
	}
	plain := serverlesstest.Run(t, serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		return serverless.Refresh("x"), nil
	}}, nil)
	if !plain.StopPod || string(plain.Output) != `"x"` {
		t.Errorf("Refresh of a string: stopPod %v output %s", plain.StopPod, plain.Output)
	}
}
