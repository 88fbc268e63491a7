package wire

import (
	"encoding/json"
	"testing"
)

// FuzzTruthy: the error-value judgement never panics, and agrees with a
// decode of the value for null, false and empty strings, lists and objects.
func FuzzTruthy(f *testing.F) {
	for _, s := range []string{`null`, `false`, `true`, `""`, `"x"`, `[]`, `[1]`, `{}`, `{"a":1}`, `0`, ` null `, `{ }`, `[ ]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Truthy(json.RawMessage(s))
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		want := true
		switch x := v.(type) {
		case nil:
			want = false
		case bool:
			want = x
		case string:
			want = x != ""
		case []any:
			want = len(x) > 0
		case map[string]any:
			want = len(x) > 0
		case float64:
			want = x != 0
		}
		if got != want {
			t.Fatalf("Truthy(%s) = %v, want %v", s, got, want)
		}
	})
}
