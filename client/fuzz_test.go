package client

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParseStatus feeds arbitrary server bodies to the status decoder: it
// must not panic, and a body it accepts has an id and a status and keeps
// the bytes it was given.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{
		`{"id":"j","status":"COMPLETED","output":{"a":1},"delayTime":3,"executionTime":4}`,
		`{"id":"j","status":"FAILED","error":{"error_type":"x"}}`,
		`{"id":"j","status":"RUNNING","error":null}`,
		`{"id":"","status":"IN_QUEUE"}`, `[]`, `null`, `{"id":1}`, `{"delayTime":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := parseStatus(b)
		if !ok {
			return
		}
		if st.ID == "" || st.Status == "" || st.Status == StatusRunning {
			t.Fatalf("accepted %q as %+v", b, st)
		}
		if string(st.Raw) != string(b) {
			t.Fatalf("Raw %q, body %q", st.Raw, b)
		}
		if len(st.Output) > 0 && !json.Valid(st.Output) {
			t.Fatalf("output %q is not JSON", st.Output)
		}
	})
}

// FuzzErrorMessage checks that any error body gives a bounded message and
// a well-formed APIError.
func FuzzErrorMessage(f *testing.F) {
	for _, s := range []string{`{"error":"bad"}`, `{"message":"m"}`, `{"detail":{"x":1}}`, "plain\ntext", ``, `{"error":null,"title":"t"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := newAPIError(418, b)
		if len(e.Body) > maxErrorBody {
			t.Fatalf("body kept %d bytes", len(e.Body))
		}
		if utf8.ValidString(string(b)) && len(e.Message) > len(b)+3 {
			t.Fatalf("message %q longer than body %q", e.Message, b)
		}
		if e.Error() == "" {
			t.Fatal("empty error text")
		}
	})
}

// FuzzChunkOutput: unwrapping a stream element never panics and returns
// valid JSON for valid JSON.
func FuzzChunkOutput(f *testing.F) {
	for _, s := range []string{`{"output":"a"}`, `{"output":null}`, `"bare"`, `{"other":1}`, `[{"output":1}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if out := chunkOutput(b); !json.Valid(out) {
			t.Fatalf("chunkOutput(%q) = %q, not JSON", b, out)
		}
	})
}
