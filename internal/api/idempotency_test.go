package api

import (
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestJSONHashComparesValues(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{`{"input":{"a":1,"b":[1.0,2]}}`, ` { "input" : {"b":[1, 2e0], "a":10e-1} } `},
		{`{"n":-0}`, `{"n":0.000}`},
		{`{"n":123456789012345678901234567890}`, `{"n":1.23456789012345678901234567890e29}`},
		{`{"s":"\u00e9"}`, `{"s":"é"}`},
	}
	for _, c := range same {
		if a, b := testutil.Must(jsonHash([]byte(c[0]))), testutil.Must(jsonHash([]byte(c[1]))); a != b {
			t.Errorf("%s and %s: hashes differ", c[0], c[1])
		}
	}
	differ := [][2]string{
		{`{"n":1}`, `{"n":"1"}`},
		{`{"n":1}`, `{"n":1e0000000000000000000000000001}`},
		{`{"n":123456789012345678901234567890}`, `{"n":123456789012345678901234567891}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"n":1}`, `{"n":-1}`},
	}
	for _, c := range differ {
		if a, b := testutil.Must(jsonHash([]byte(c[0]))), testutil.Must(jsonHash([]byte(c[1]))); a == b {
			t.Errorf("%s and %s: same hash", c[0], c[1])
		}
	}
}

// FuzzJSONHash: any JSON body hashes without error, and as its own
// re-encoding does.
func FuzzJSONHash(f *testing.F) {
	for _, s := range []string{`{"input":{"a":1.50e3}}`, `[0,-0.0,1E+2]`, `"x"`, `{"a":{"b":[null,true]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		h, err := jsonHash(body)
		if err != nil {
			t.Fatalf("hash of valid JSON %q: %v", body, err)
		}
		var raw json.RawMessage = body
		again, err := json.MarshalIndent(raw, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if h2, err := jsonHash(again); err != nil || h2 != h {
			t.Fatalf("%q re-indented hashes %s (%v), want %s", body, h2, err, h)
		}
	})
}
