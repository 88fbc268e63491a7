package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

type keyName string

type point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func mustJob(t *testing.T, raw string) *Job {
	t.Helper()
	job, err := parseJob([]byte(raw))
	if err != nil {
		t.Fatalf("parseJob(%s): %v", raw, err)
	}
	return job
}

// normalizeBody replaces the parts of a body that vary between machines
// and builds (Go stacks, the SDK version) after checking they are sane.
func normalizeBody(t *testing.T, body []byte) []byte {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("body is not a JSON object: %s: %v", body, err)
	}
	rawErr, ok := fields["error"]
	if !ok {
		return body
	}
	var s string
	if json.Unmarshal(rawErr, &s) != nil {
		return body
	}
	var p errorPayload
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if strings.HasPrefix(s, "{") && dec.Decode(&p) == nil {
		if mustMarshal(t, p) != s {
			t.Errorf("error payload is not in runpod-python's key order: %s", s)
		}
		if !strings.Contains(p.ErrorTraceback, "goroutine ") {
			t.Errorf("error_traceback is not a Go stack: %q", p.ErrorTraceback)
		}
		if p.RunpodVersion != Version {
			t.Errorf("runpod_version = %q, want %q", p.RunpodVersion, Version)
		}
		p.ErrorTraceback, p.RunpodVersion = "<stack>", "<version>"
		raw := mustMarshal(t, mustMarshal(t, p))
		return []byte(strings.Replace(string(body), string(rawErr), raw, 1))
	}
	if i := strings.Index(s, "\ntraceback: "); i >= 0 {
		tb := s[i+len("\ntraceback: "):]
		if !strings.Contains(tb, "goroutine ") {
			t.Errorf("stream traceback is not a Go stack: %q", tb)
		}
		raw := mustMarshal(t, s[:i]+"\ntraceback: <stack>")
		return []byte(strings.Replace(string(body), string(rawErr), raw, 1))
	}
	return body
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	raw, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestRunJobResultGolden(t *testing.T) {
	t.Setenv("RUNPOD_POD_HOSTNAME", "host-1")
	t.Setenv("RUNPOD_POD_ID", "pod-1")
	cases := []struct {
		name    string
		refresh bool
		ret     any
		err     error
		panic   any
		failed  bool
		stopPod bool
	}{
		{name: "string", ret: "hi"},
		{name: "nil", ret: nil},
		{name: "true", ret: true},
		{name: "false", ret: false},
		{name: "number", ret: 3.5},
		{name: "list", ret: []any{1, "a", nil}},
		{name: "struct", ret: point{1, 2}},
		{name: "map", ret: map[string]any{"ok": true}},
		{name: "map_output_not_unwrapped", ret: map[string]any{"output": "x"}},
		{name: "map_error", ret: map[string]any{"error": "bad"}, failed: true},
		{name: "map_error_and_rest", ret: map[string]any{"error": "bad", "k": 1}, failed: true},
		{name: "map_error_empty", ret: map[string]any{"error": ""}},
		{name: "map_error_object", ret: map[string]any{"error": map[string]any{"code": 3}}, failed: true},
		{name: "map_error_falsy", ret: map[string]any{"error": []any{}, "zero": 0, "k": "v"}},
		{name: "map_error_zero", ret: map[string]int{"error": 0, "n": 1}},
		{name: "map_refresh_worker", ret: map[string]any{"refresh_worker": true}, stopPod: true},
		{name: "map_refresh_worker_false", ret: map[string]any{"refresh_worker": false, "a": 1}},
		{name: "map_error_refresh_worker", ret: map[string]any{"error": "e", "refresh_worker": 1, "a": 1}, failed: true, stopPod: true},
		{name: "map_empty", ret: map[string]any{}},
		{name: "map_nil", ret: map[string]any(nil)},
		{name: "map_typed", ret: map[string]int{"a": 1, "b": 2}},
		{name: "map_named_keys", ret: map[keyName]string{"error": "named", "x": "y"}, failed: true},
		{name: "map_int_keys_plain", ret: map[int]string{1: "a"}},
		{name: "pointer_map_plain", ret: &map[string]any{"error": "not lifted"}},
		{name: "raw_message_plain", ret: json.RawMessage(`{"error":"not lifted"}`)},
		{name: "unescaped", ret: "<é & 日本>"},
		{name: "refresh_config", refresh: true, ret: map[string]any{"ok": 1}, stopPod: true},
		{name: "refresh_config_empty", refresh: true, ret: map[string]any{}, stopPod: true},
		{name: "returned_error", err: errors.New("boom"), failed: true},
		{name: "returned_error_wrapped", err: fmt.Errorf("load: %w", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}), failed: true},
		{name: "returned_error_refresh", refresh: true, err: errors.New("boom"), failed: true, stopPod: true},
		{name: "panic", panic: "kaput", failed: true},
		{name: "panic_error_value", panic: fmt.Errorf("nil map"), failed: true},
		{name: "unencodable_chan", ret: make(chan int), failed: true},
		{name: "unencodable_nan", ret: map[string]any{"v": math.NaN()}, failed: true},
		{name: "unencodable_refresh", refresh: true, ret: map[string]any{"f": func() {}}, failed: true, stopPod: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{RefreshWorker: tc.refresh, Handler: func(ctx context.Context, job *Job) (any, error) {
				if tc.panic != nil {
					panic(tc.panic)
				}
				return tc.ret, tc.err
			}}
			o := runJob(context.Background(), cfg, mustJob(t, `{"id":"j1","input":null}`), nil)
			if o.failed != tc.failed || o.stopPod != tc.stopPod {
				t.Errorf("failed=%v stopPod=%v, want %v %v (body %s)", o.failed, o.stopPod, tc.failed, tc.stopPod, o.body)
			}
			wantCause := tc.err != nil || tc.panic != nil || strings.HasPrefix(tc.name, "unencodable")
			if (o.cause != nil) != wantCause || (o.payload != nil) != wantCause {
				t.Errorf("cause=%v payload=%v, want them set: %v", o.cause, o.payload, wantCause)
			}
			testutil.GoldenText(t, "result_"+tc.name, normalizeBody(t, o.body))
		})
	}
}

func TestErrorPayloadFields(t *testing.T) {
	t.Setenv("RUNPOD_POD_HOSTNAME", "h")
	t.Setenv("RUNPOD_POD_ID", "w")
	decode := func(t *testing.T, o outcome) errorPayload {
		t.Helper()
		var body struct{ Error string }
		if err := json.Unmarshal(o.body, &body); err != nil {
			t.Fatal(err)
		}
		var p errorPayload
		dec := json.NewDecoder(strings.NewReader(body.Error))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("error is not the payload object: %q: %v", body.Error, err)
		}
		return p
	}
	run := func(h HandlerFunc) outcome {
		return runJob(context.Background(), &Config{Handler: h}, &Job{ID: "j"}, nil)
	}
	t.Run("wrapped error names inner type", func(t *testing.T) {
		p := decode(t, run(func(context.Context, *Job) (any, error) {
			return nil, fmt.Errorf("read: %w", &fs.PathError{Op: "open", Path: "/p", Err: fs.ErrNotExist})
		}))
		want := errorPayload{ErrorType: "*fs.PathError", ErrorMessage: "read: open /p: file does not exist",
			Hostname: "h", WorkerID: "w", RunpodVersion: Version}
		if !strings.Contains(p.ErrorTraceback, "callHandler") {
			t.Errorf("traceback lacks the handler's caller: %q", p.ErrorTraceback)
		}
		p.ErrorTraceback = ""
		if p != want {
			t.Errorf("payload = %+v, want %+v", p, want)
		}
	})
	t.Run("panic has the panicking stack", func(t *testing.T) {
		o := run(func(context.Context, *Job) (any, error) {
			m := nilMap()
			m["x"]++ // nil map write: a runtime panic, not a panic call
			return nil, nil
		})
		p := decode(t, o)
		if p.ErrorType != "panic" || !strings.Contains(p.ErrorMessage, "nil map") {
			t.Errorf("type/message = %q %q", p.ErrorType, p.ErrorMessage)
		}
		if !strings.Contains(p.ErrorTraceback, "TestErrorPayloadFields") {
			t.Errorf("traceback lacks the panicking function: %q", p.ErrorTraceback)
		}
		var pe *panicError
		if !errors.As(o.cause, &pe) {
			t.Errorf("cause = %T, want *panicError", o.cause)
		}
	})
	t.Run("unset env is unknown", func(t *testing.T) {
		os.Unsetenv("RUNPOD_POD_HOSTNAME") // restored by t.Setenv above
		os.Unsetenv("RUNPOD_POD_ID")
		p := decode(t, run(func(context.Context, *Job) (any, error) { return nil, errors.New("x") }))
		if p.Hostname != "unknown" || p.WorkerID != "unknown" {
			t.Errorf("hostname/worker_id = %q %q", p.Hostname, p.WorkerID)
		}
	})
	t.Run("unencodable names the type", func(t *testing.T) {
		p := decode(t, run(func(context.Context, *Job) (any, error) { return []any{make(chan int)}, nil }))
		if !strings.Contains(p.ErrorMessage, "cannot be encoded as JSON") || !strings.Contains(p.ErrorMessage, "chan int") {
			t.Errorf("message = %q", p.ErrorMessage)
		}
	})
}

// recSink records chunks and progress in order.
type recSink struct {
	mu       sync.Mutex
	events   []string
	chunkErr error
}

func (s *recSink) chunk(ctx context.Context, output any) error {
	raw, err := marshal(output)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "chunk "+string(raw))
	return s.chunkErr
}

func (s *recSink) progress(ctx context.Context, p any) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "progress "+string(raw))
	return nil
}

func yieldAll(values ...any) StreamFunc {
	return func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for _, v := range values {
				if err, ok := v.(error); ok {
					if !yield(nil, err) {
						return
					}
					continue
				}
				if !yield(v, nil) {
					return
				}
			}
		}
	}
}

func TestRunJobStreamGolden(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		wantSink  []string
		failed    bool
		stopPod   bool
		panicking bool
	}{
		{name: "default", cfg: Config{StreamHandler: yieldAll("a", map[string]any{"b": 1}, "<é>")},
			wantSink: []string{`chunk "a"`, `chunk {"b":1}`, `chunk "<é>"`}},
		{name: "aggregate", cfg: Config{ReturnAggregateStream: true, StreamHandler: yieldAll("a", 2, nil)},
			wantSink: []string{`chunk "a"`, `chunk 2`, `chunk null`}},
		{name: "empty_aggregate", cfg: Config{ReturnAggregateStream: true, StreamHandler: yieldAll()}},
		{name: "yielded_error", cfg: Config{ReturnAggregateStream: true, StreamHandler: yieldAll("a", errors.New("disk full"), "never")},
			wantSink: []string{`chunk "a"`}, failed: true},
		{name: "yielded_error_map", cfg: Config{StreamHandler: yieldAll("a", map[string]any{"error": "bad chunk"}, "never")},
			wantSink: []string{`chunk "a"`}, failed: true},
		{name: "yielded_error_map_object", cfg: Config{StreamHandler: yieldAll(map[string]any{"error": map[string]int{"code": 7}})},
			failed: true},
		{name: "yielded_falsy_error_map", cfg: Config{StreamHandler: yieldAll(map[string]any{"error": "", "v": 1})},
			wantSink: []string{`chunk {"error":"","v":1}`}},
		{name: "unencodable_chunk", cfg: Config{StreamHandler: yieldAll("a", make(chan int), "never")},
			wantSink: []string{`chunk "a"`}, failed: true},
		{name: "refresh", cfg: Config{RefreshWorker: true, StreamHandler: yieldAll("a")},
			wantSink: []string{`chunk "a"`}, stopPod: true},
		{name: "panic", cfg: Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
			return func(yield func(any, error) bool) {
				yield("a", nil)
				panic("stream broke")
			}
		}}, wantSink: []string{`chunk "a"`}, failed: true},
		{name: "nil_iterator", cfg: Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] { return nil }},
			failed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recSink{}
			o := runJob(context.Background(), &tc.cfg, mustJob(t, `{"id":"s1","input":{}}`), sink)
			if o.failed != tc.failed || o.stopPod != tc.stopPod {
				t.Errorf("failed=%v stopPod=%v, want %v %v (body %s)", o.failed, o.stopPod, tc.failed, tc.stopPod, o.body)
			}
			if fmt.Sprint(sink.events) != fmt.Sprint(tc.wantSink) {
				t.Errorf("sink got %q, want %q", sink.events, tc.wantSink)
			}
			testutil.GoldenText(t, "stream_"+tc.name, normalizeBody(t, o.body))
		})
	}
}

func TestRunJobStreamStopsWhenCtxDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &recSink{chunkErr: context.Canceled}
	yielded := 0
	cfg := &Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for i := range 100 {
				yielded++
				if i == 2 {
					cancel()
				}
				if !yield(i, nil) {
					return
				}
			}
		}
	}}
	runJob(ctx, cfg, &Job{ID: "s"}, sink)
	if yielded != 3 {
		t.Errorf("handler yielded %d values after its ctx was cancelled at the 3rd; want the stream to stop at 3", yielded)
	}
}

func TestRunJobStreamCarriesOnAfterChunkError(t *testing.T) {
	sink := &recSink{chunkErr: errors.New("post failed")}
	o := runJob(context.Background(), &Config{StreamHandler: yieldAll(1, 2, 3)}, &Job{ID: "s"}, sink)
	if len(sink.events) != 3 || o.failed {
		t.Errorf("events %q failed=%v; want all 3 chunks offered and success", sink.events, o.failed)
	}
}

func TestRunJobProgressInOrderBeforeResult(t *testing.T) {
	sink := &recSink{}
	var late error
	var mu sync.Mutex
	var job *Job
	cfg := &Config{Handler: func(ctx context.Context, j *Job) (any, error) {
		for i := range 3 {
			if err := ProgressUpdate(ctx, j, map[string]int{"step": i}); err != nil {
				return nil, err
			}
		}
		mu.Lock()
		job = j
		mu.Unlock()
		return "done", nil
	}}
	o := runJob(context.Background(), cfg, &Job{ID: "p"}, sink)
	want := []string{`progress {"step":0}`, `progress {"step":1}`, `progress {"step":2}`}
	if fmt.Sprint(sink.events) != fmt.Sprint(want) || string(o.body) != `{"output":"done"}` {
		t.Errorf("events %q body %s", sink.events, o.body)
	}
	mu.Lock()
	late = ProgressUpdate(context.Background(), job, "late")
	mu.Unlock()
	if !errors.Is(late, errJobFinished) {
		t.Errorf("ProgressUpdate after the result = %v, want errJobFinished", late)
	}
	if len(sink.events) != 3 {
		t.Errorf("late progress reached the sink: %q", sink.events)
	}
}

// nilMap returns a nil map, for a handler that panics writing to it.
func nilMap() map[string]int { return nil }
