package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseInput(t *testing.T) {
	cases := []struct {
		in     string
		input  string
		fields string // JSON of Fields, "" for none
		err    string
	}{
		{`{"prompt": "hi"}`, `{"prompt":"hi"}`, "", ""},
		{`{"input": {"prompt": "hi"}, "webhook": "http://127.0.0.1:1/h", "policy": {"ttl": 60000}}`,
			`{"prompt":"hi"}`, `{"policy":{"ttl":60000},"webhook":"http://127.0.0.1:1/h"}`, ""},
		{`{"input": {}}`, `{}`, "", ""},
		{`{"input": null}`, `null`, "", ""},
		{`[1, 2]`, `[1,2]`, "", ""},
		{` "text" `, `"text"`, "", ""},
		{`12345678901234567890`, `12345678901234567890`, "", ""},
		{``, "", "", "empty input"},
		{`{"a":`, "", "", "not valid JSON"},
		{`{} {}`, "", "", "more than one value"},
		{`hello`, "", "", "not valid JSON"},
	}
	for _, tc := range cases {
		got, err := parseInput([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseInput(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseInput(%q): %v", tc.in, err)
			continue
		}
		if string(got.Input) != tc.input {
			t.Errorf("parseInput(%q).Input = %s, want %s", tc.in, got.Input, tc.input)
		}
		var fields string
		if got.Fields != nil {
			b, _ := json.Marshal(got.Fields)
			fields = string(b)
		}
		if fields != tc.fields {
			t.Errorf("parseInput(%q).Fields = %s, want %s", tc.in, fields, tc.fields)
		}
	}
}

func TestReadInputSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.json")
	if err := os.WriteFile(path, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ arg, stdin, want string }{
		{"", "", `{}`},
		{"-", `{"from":"stdin"}`, `{"from":"stdin"}`},
		{"@" + path, "", `{"from":"file"}`},
		{`{"from":"arg"}`, "", `{"from":"arg"}`},
	}
	for _, tc := range cases {
		got, err := readInput(tc.arg, strings.NewReader(tc.stdin))
		if err != nil {
			t.Errorf("readInput(%q): %v", tc.arg, err)
			continue
		}
		if string(got.Input) != tc.want {
			t.Errorf("readInput(%q) = %s, want %s", tc.arg, got.Input, tc.want)
		}
	}
	if _, err := readInput("@"+filepath.Join(dir, "missing.json"), nil); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := readInput("-", strings.NewReader("nope")); err == nil || !strings.Contains(err.Error(), "input from stdin: not valid JSON") {
		t.Errorf("bad stdin: %v", err)
	}
	big := bytes.Repeat([]byte(" "), maxInputBytes+1)
	if _, err := readInput("-", bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized stdin: %v", err)
	}
}

// FuzzParseInput checks that any bytes either fail cleanly or give a
// request whose input and fields are valid JSON and that round-trips.
func FuzzParseInput(f *testing.F) {
	for _, s := range []string{`{"prompt":"hi"}`, `{"input":{"a":1},"webhook":"x"}`, `[1,2]`, `"s"`, `null`,
		`{"input":`, `{} {}`, ``, `{"input":1,"input":2}`, "\xff", `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseInput(data)
		if err != nil {
			if got != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if !json.Valid(got.Input) {
			t.Fatalf("input %q is not valid JSON", got.Input)
		}
		if _, ok := got.Fields["input"]; ok {
			t.Fatal("fields carry an input key")
		}
		body := map[string]json.RawMessage{"input": got.Input}
		for k, v := range got.Fields {
			if !json.Valid(v) {
				t.Fatalf("field %q is not valid JSON: %q", k, v)
			}
			body[k] = v
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as the client sends it
		if err := enc.Encode(body); err != nil {
			t.Fatalf("body does not encode: %v", err)
		}
		b := buf.Bytes()
		again, err := parseInput(b)
		if err != nil || !bytes.Equal(again.Input, got.Input) || len(again.Fields) != len(got.Fields) {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}
