package api

import (
	"bytes"
	"encoding/json"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/wire"
)

// DoneBody is a decoded job-done body.
type DoneBody struct {
	// Progress is true for a progress update ({"status": "IN_PROGRESS", "output": x}).
	Progress bool
	// Result is the final result when Progress is false; for a progress
	// update, Result.Output is the update.
	Result engine.Result
}

// DecodeDone decodes a job-done body as runpod-python sends it: JSON
// whatever the Content-Type says, Python's NaN/Infinity tokens read as null,
// an empty body read as {}. isStream is the isStream query parameter.
func DecodeDone(body []byte, isStream bool) (DoneBody, error) {
	var d DoneBody
	fields, err := decodeWorkerObject(body)
	if err != nil {
		return d, err
	}
	if s, ok := fields["status"]; ok {
		var status string
		if json.Unmarshal(s, &status) == nil && status == string(engine.StatusInProgress) {
			d.Progress = true
		}
	}
	if out, ok := fields["output"]; ok {
		d.Result.Output = out
	}
	if d.Progress {
		if d.Result.Output == nil {
			d.Result.Output = json.RawMessage("null")
		}
		return d, nil
	}
	if e, ok := fields["error"]; ok && wire.Truthy(e) {
		d.Result.Error = e
	}
	if sp, ok := fields["stopPod"]; ok {
		d.Result.StopPod = wire.Truthy(sp)
	}
	d.Result.IsStream = isStream
	return d, nil
}

// DecodeChunk decodes a job-stream body, {"output": chunk}.
func DecodeChunk(body []byte) (json.RawMessage, error) {
	fields, err := decodeWorkerObject(body)
	if err != nil {
		return nil, err
	}
	out, ok := fields["output"]
	if !ok {
		return nil, badRequest(`stream chunk body has no "output": send {"output": <chunk>}`)
	}
	return out, nil
}

func decodeWorkerObject(body []byte) (map[string]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	body = SanitizeNonFinite(body)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, badRequest(`body is not a JSON object (%s): send {"output": ...} or {"error": ...}`, jsonProblem(err))
	}
	if fields == nil {
		return map[string]json.RawMessage{}, nil
	}
	return fields, nil
}

var nonFiniteTokens = [][]byte{[]byte("-Infinity"), []byte("Infinity"), []byte("NaN")}

// SanitizeNonFinite replaces the bare NaN, Infinity and -Infinity tokens
// that Python's json.dumps writes (outside strings) with null, so the body
// is valid JSON. Bodies without them are returned unchanged.
func SanitizeNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		replaced := false
		if c == 'N' || c == 'I' || c == '-' {
			for _, tok := range nonFiniteTokens {
				if bytes.HasPrefix(b[i:], tok) {
					out = append(out, "null"...)
					i += len(tok) - 1
					replaced = true
					break
				}
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}
