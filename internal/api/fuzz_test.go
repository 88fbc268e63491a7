package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// FuzzDecodeSubmit feeds arbitrary bodies to the /run decoder: it must never
// panic, and what it accepts must carry a non-null JSON input and a policy
// inside Runpod's ranges.
func FuzzDecodeSubmit(f *testing.F) {
	for _, s := range []string{
		`{"input":{"a":1}}`, `{"input":1,"policy":{"executionTimeout":6000,"ttl":20000,"lowPriority":true}}`,
		`{"input":"x","webhook":"https://h/x","webhookV2":{"url":"http://a/b"},"s3Config":{}}`,
		`{"input":null}`, `[]`, `{`, ``, `{"input":1,"policy":{"ttl":1e400}}`, `{"input":1,"policy":{"executionTimeout":-0}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeSubmit(body)
		if err != nil {
			if re := (*requestError)(nil); !errors.As(err, &re) {
				t.Fatalf("error is not a client error: %T %v", err, err)
			}
			return
		}
		if isNull(req.Input) || !json.Valid(req.Input) {
			t.Fatalf("accepted invalid input %q", req.Input)
		}
		p := req.Policy
		if p.ExecutionTimeout != 0 && (p.ExecutionTimeout.Milliseconds() < minExecutionTimeoutMs || p.ExecutionTimeout.Milliseconds() > maxExecutionTimeoutMs) {
			t.Fatalf("executionTimeout out of range: %v", p.ExecutionTimeout)
		}
		if p.TTL != 0 && (p.TTL.Milliseconds() < minTTLMs || p.TTL.Milliseconds() > maxTTLMs) {
			t.Fatalf("ttl out of range: %v", p.TTL)
		}
		for k, v := range req.Extra {
			if k == "input" || k == "policy" || !json.Valid(v) {
				t.Fatalf("bad extra %q=%q", k, v)
			}
		}
	})
}

// FuzzDecodeDone feeds arbitrary job-done bodies: never a panic; anything
// accepted has valid JSON in output and error.
func FuzzDecodeDone(f *testing.F) {
	for _, s := range []string{
		`{"output": {"x": NaN}}`, `{"status": "IN_PROGRESS", "output": 5}`, `{"error": "e", "stopPod": true}`,
		`{"output": "Infinity \" NaN"}`, `{}`, ``, `-Infinity`, `{"output": [Infinity, -Infinity]}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, isStream bool) {
		d, err := DecodeDone(body, isStream)
		if err != nil {
			return
		}
		if d.Result.Output != nil && !json.Valid(d.Result.Output) {
			t.Fatalf("invalid output %q from %q", d.Result.Output, body)
		}
		if d.Result.Error != nil && !json.Valid(d.Result.Error) {
			t.Fatalf("invalid error %q from %q", d.Result.Error, body)
		}
		if json.Valid(body) && string(SanitizeNonFinite(body)) != string(body) {
			// Valid JSON never holds bare non-finite tokens; only strings may spell them.
			t.Fatalf("sanitizer changed valid JSON %q", body)
		}
	})
}

// FuzzHandler sends arbitrary requests (route, query, key, body) through
// the whole handler over an in-memory engine: no panic, never a 5xx, and
// every error is a JSON {"error": ...} body.
func FuzzHandler(f *testing.F) {
	for _, s := range []struct{ method, path, auth, body string }{
		{"POST", "/v2/ep/run", bearer, `{"input":{"a":1}}`},
		{"POST", "/v2/ep/runsync?wait=1000", bearer, `{"input":1,"policy":{"ttl":20000}}`},
		{"GET", "/v2/ep/status/job-1", bearer, ``},
		{"GET", "/v2/ep/stream/job-1?wait=1", bearer, ``},
		{"POST", "/v2/ep/job-done/w1/job-1?&isStream=true", testWorkerKey, `{"output": NaN}`},
		{"POST", "/v2/ep/job-stream/w1/job-1&isStream=false", testWorkerKey, `{"output": 1}`},
		{"GET", "/v2/ep/job-take-batch/w1?&batch_size=3", testWorkerKey, ``},
		{"GET", "/v2/ep/ping/w1?job_id=a%2Cb", testWorkerKey, ``},
		{"DELETE", "/v2/ep/purge-queue", bearer, ``},
	} {
		f.Add(s.method, s.path, s.auth, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, auth string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n#") {
			return // not a request line net/http would accept
		}
		switch method {
		case "GET", "POST", "PUT", "DELETE", "PATCH":
		default:
			return
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		fe := newFakeEngine("ep")
		_, _ = fe.Submit(t.Context(), "ep", engine.SubmitRequest{Input: json.RawMessage(`1`)})
		_, _ = fe.Take(t.Context(), "ep", "w1", 1)
		h := New(Config{Engine: fe, Keys: testKeys(), TakeHold: time.Millisecond, StopHold: time.Millisecond,
			RunBodyLimit: 1 << 12, RunsyncBodyLimit: 1 << 12, ResultBodyLimit: 1 << 12, ChunkBodyLimit: 1 << 12})
		req := httptest.NewRequest(method, "http://sluice.test"+u.RequestURI(), bytes.NewReader(body))
		if auth != "" && !strings.ContainsAny(auth, "\r\n") {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		if strings.Contains(path, "runsync") || strings.Contains(path, "status-sync") || strings.Contains(path, "stream") {
			// Long polls: bound them.
			ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
			defer cancel()
			req = req.WithContext(ctx)
		}
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s: %d with a non-JSON error body %q", method, path, rec.Code, rec.Body.String())
			}
		}
	})
}
