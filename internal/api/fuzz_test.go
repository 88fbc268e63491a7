package api

import (
	"encoding/json"
	"testing"
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
			if _, ok := err.(*requestError); !ok {
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
