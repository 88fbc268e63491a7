package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// ErrorText reads a job's error value as a worker sent it: a JSON string
// (runpod-python and the Go SDK put a JSON object with error_message and
// error_traceback inside it), an object with those keys, or any other JSON
// value. It returns the message and the traceback (empty when none).
func ErrorText(v json.RawMessage) (msg, traceback string) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if inner := strings.TrimSpace(s); strings.HasPrefix(inner, "{") {
			if m, tb, ok := errorObject([]byte(inner)); ok {
				return m, tb
			}
		}
		return s, ""
	}
	if m, tb, ok := errorObject(v); ok {
		return m, tb
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v), ""
	}
	return buf.String(), ""
}

// errorObject reads an error object with error_message (or message) and
// error_traceback (or traceback); the error_type goes before the message.
func errorObject(v []byte) (msg, traceback string, ok bool) {
	var o struct {
		Type      string `json:"error_type"`
		Message   string `json:"error_message"`
		Traceback string `json:"error_traceback"`
		Msg       string `json:"message"`
		TB        string `json:"traceback"`
	}
	if json.Unmarshal(v, &o) != nil {
		return "", "", false
	}
	msg, traceback = o.Message, o.Traceback
	if msg == "" {
		msg = o.Msg
	}
	if traceback == "" {
		traceback = o.TB
	}
	if msg == "" && traceback == "" {
		return "", "", false
	}
	if o.Type != "" && msg != "" && !strings.HasPrefix(msg, o.Type) {
		msg = o.Type + ": " + msg
	}
	return msg, traceback, true
}

// ErrorSummaryMax is the longest error summary, in bytes before the "…".
const ErrorSummaryMax = 200

// ErrorSummary is the first line of an error message, at most
// ErrorSummaryMax bytes (cut on a character boundary, then "…").
func ErrorSummary(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	line = strings.TrimSpace(line)
	if len(line) <= ErrorSummaryMax {
		return line
	}
	cut := ErrorSummaryMax
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + "…"
}
