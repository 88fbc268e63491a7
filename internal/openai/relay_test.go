package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// sseData returns the data of each event in an SSE text (data lines joined
// by "\n", as clients join them), skipping comments.
func sseData(t *testing.T, text string) []string {
	t.Helper()
	var out, lines []string
	for line := range strings.SplitSeq(text, "\n") {
		switch {
		case line == "":
			if lines != nil {
				out = append(out, strings.Join(lines, "\n"))
				lines = nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			t.Errorf("not an SSE line: %q", line)
		}
	}
	if lines != nil {
		t.Errorf("unterminated event at the end: %q", lines)
	}
	return out
}

// TestRelayShapes: every chunk shape workers yield becomes valid SSE whose
// events are JSON objects and one final [DONE] (golden file).
func TestRelayShapes(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		events int // data events before [DONE]
	}{
		{"worker-vllm raw: one event per string, [DONE] from the worker", []string{
			`"data: {\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"`,
			`"data: {\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\ndata: [DONE]\n\n"`,
		}, 2},
		{"worker-vllm proxy: byte slices split anywhere", []string{
			`"data: {\"a\""`, `":1}\n\ndata: {\"b\":2}\n"`, `"\ndata: [DO"`, `"NE]\n\n"`,
		}, 2},
		{"worker-vllm RAW_OPENAI_OUTPUT=0: batches of objects", []string{
			`[{"id":"a","n":1},{"id":"a","n":2}]`, `[{"id":"a","n":3}]`,
		}, 3},
		{"worker-sglang: multi-line events", []string{
			`"data: {\ndata:     \"a\": 1\ndata: }\n\n"`, `"data: [DONE]\n\n"`,
		}, 1},
		{"objects, bare JSON strings, nulls and a nested array", []string{
			`{"n":1}`, `"{\"n\":2}"`, `null`, `[[1,2]]`, `""`,
		}, 3},
		{"an unfinished event then an object", []string{
			`"data: {\"n\":1}"`, `{"n":2}`,
		}, 2},
	}
	var golden bytes.Buffer
	for _, c := range cases {
		var out bytes.Buffer
		rl := newRelay(&out)
		for i, ch := range c.chunks {
			rl.chunk(json.RawMessage(ch))
			if i == 0 {
				rl.comment() // a keep-alive only where it cannot split an event
			}
			testutil.NoErr(t, rl.flush())
		}
		rl.finish()
		testutil.NoErr(t, rl.flush())
		data := sseData(t, out.String())
		if len(data) != c.events+1 || data[len(data)-1] != "[DONE]" {
			t.Errorf("%s: events %q, want %d and [DONE]", c.name, data, c.events)
		}
		for _, d := range data[:len(data)-1] {
			if !json.Valid([]byte(d)) {
				t.Errorf("%s: event data %q is not JSON", c.name, d)
			}
		}
		fmt.Fprintf(&golden, "### %s\n%s", c.name, out.String())
	}
	testutil.GoldenText(t, "relay", golden.Bytes())
}

// TestWorkerError: the error values runpod-python and Go workers send become
// OpenAI errors with the status the worker named.
func TestWorkerError(t *testing.T) {
	cases := []struct {
		raw                 string
		status              int
		message, typ, param string
	}{
		{`"{'message': \"it's gone\", 'type': 'NotFoundError', 'param': None, 'code': 404}"`, 404, "it's gone", "NotFoundError", ""},
		{`"{'message': 'a\\'b\\nc', 'type': 'worker_error', 'code': None}"`, 500, "a'b\nc", "worker_error", ""},
		{`"{\"error\": {\"message\": \"json in a string\", \"type\": \"BadRequestError\", \"param\": \"n\", \"code\": 400}}"`, 400, "json in a string", "BadRequestError", "n"},
		{`{"message": "an object", "code": "model_not_found"}`, 500, "an object", typeServer, ""},
		{`"{'error': 'flat string'}"`, 500, "{'error': 'flat string'}", typeServer, ""},
		{`"plain text"`, 500, "plain text", typeServer, ""},
		{`{"error": "nested string"}`, 500, "nested string", typeServer, ""},
		{`"Request to vLLM failed: returned HTTP 503"`, 503, "Request to vLLM failed: returned HTTP 503", typeServer, ""},
		{`"{'message': 'x', 'code': 200}"`, 500, "x", typeServer, ""},
	}
	for _, c := range cases {
		e := workerError(json.RawMessage(c.raw))
		if e.Status != c.status || e.Message != c.message || e.Type != c.typ || e.Param != c.param {
			t.Errorf("%s: got %d %q %q %q, want %d %q %q %q", c.raw, e.Status, e.Message, e.Type, e.Param, c.status, c.message, c.typ, c.param)
		}
	}
	long := workerError(json.RawMessage(`"` + strings.Repeat("é", maxMessage) + `"`))
	if len(long.Message) > maxMessage+3 || !json.Valid(long.body()) {
		t.Errorf("a long message is not cut to %d bytes: %d", maxMessage, len(long.Message))
	}
}

// TestAnswerBody: the shapes of a plain answer, and the ones refused.
func TestAnswerBody(t *testing.T) {
	cases := []struct {
		output string
		chunks []string
		want   string // "" when an error
		status int
	}{
		{`[{"id": 1}]`, nil, `{"id":1}`, 0},
		{`{"id": 1}`, nil, `{"id":1}`, 0},
		{`"{\"id\": 1}"`, nil, `{"id":1}`, 0},
		{`["{\"id\":", " 1}", null]`, nil, `{"id":1}`, 0},
		{``, []string{`{"id": 1}`}, `{"id":1}`, 0},
		{`[]`, []string{`"{\"id\""`, `":1}"`}, `{"id":1}`, 0},
		{`[{"a":1}, "x"]`, nil, "", http.StatusBadGateway},
		{`["not json"]`, nil, "", http.StatusBadGateway},
		{``, nil, "", http.StatusBadGateway},
		{`[{"error": {"message": "m", "code": 422}}]`, nil, "", 422},
	}
	for _, c := range cases {
		chunks := make([]json.RawMessage, len(c.chunks))
		for i, ch := range c.chunks {
			chunks[i] = json.RawMessage(ch)
		}
		body, e := answerBody(json.RawMessage(c.output), chunks)
		switch {
		case c.want != "" && (e != nil || string(body) != c.want):
			t.Errorf("%s %v: got %s %v, want %s", c.output, c.chunks, body, e, c.want)
		case c.want == "" && (e == nil || e.Status != c.status):
			t.Errorf("%s %v: got %s %v, want status %d", c.output, c.chunks, body, e, c.status)
		}
	}
}

// FuzzParseRequest: any method, route and body give either a job input
// that carries the route and the body as JSON, or an OpenAI error with a 4xx.
func FuzzParseRequest(f *testing.F) {
	f.Add("POST", "/v1/chat/completions", []byte(`{"model":"m","messages":[],"stream":true}`))
	f.Add("POST", "/v1/completions", []byte(`{"prompt":"x","stream":null}`))
	f.Add("GET", "/v1/models", []byte(``))
	f.Add("POST", "/v1/embeddings", []byte(` [1] `))
	f.Add("PUT", "/v1/x", []byte(`{"stream":"yes"}`))
	f.Fuzz(func(t *testing.T, method, route string, body []byte) {
		req, err := ParseRequest(method, route, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Message == "" || !json.Valid(e.body()) {
				t.Fatalf("error %v is not a 4xx OpenAI error", err)
			}
			return
		}
		var in struct {
			Route string          `json:"openai_route"`
			Input json.RawMessage `json:"openai_input"`
		}
		if err := json.Unmarshal(req.Input, &in); err != nil || in.Route != route || req.Route != route {
			t.Fatalf("input %s for route %q: %v", req.Input, route, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(in.Input, &fields); err != nil || fields == nil {
			t.Fatalf("openai_input %s is not an object: %v", in.Input, err)
		}
		if method == http.MethodPost {
			var orig map[string]any
			if json.Unmarshal(body, &orig) != nil || fmt.Sprint(orig) != fmt.Sprint(fields) {
				t.Fatalf("openai_input %s differs from the body %q", in.Input, body)
			}
			if req.Stream != (orig["stream"] == true) {
				t.Fatalf("stream %v for body %q", req.Stream, body)
			}
		}
	})
}
