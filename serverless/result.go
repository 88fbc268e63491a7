package serverless

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/internal/wire"
)

// Top-level keys of a job-done body (docs/spec/runpod-worker-protocol.md 1.5).
const (
	keyOutput        = "output"
	keyError         = "error"
	keyStopPod       = "stopPod"
	keyStatus        = "status"
	keyRefreshWorker = "refresh_worker"
)

// field is one key of a JSON object written in a fixed order.
type field struct {
	key   string
	value any
}

// encodeObject writes fields as one JSON object, keys in the given order,
// without HTML escaping (runpod-python sends non-ASCII and <>& unescaped).
func encodeObject(fields ...field) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := encodeValue(&buf, f.key); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := encodeValue(&buf, f.value); err != nil {
			return nil, fmt.Errorf("encode %q: %w", f.key, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// encodeValue appends v's compact JSON encoding to buf.
func encodeValue(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode adds a newline
	return nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := encodeValue(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mappedResult is a handler's return value mapped to a job-done body.
type mappedResult struct {
	fields  []field
	failed  bool
	stopPod bool
}

// mapResult maps a non-streaming handler's return value the way
// runpod-python's run_job does (docs/spec/runpod-worker-protocol.md 2.2): a map with string keys is a dict
// whose truthy "error" is lifted to the top level and whose truthy
// "refresh_worker" becomes stopPod; both keys leave the output, and an
// output left empty is dropped. Any other value is the output as is.
func mapResult(v any) mappedResult {
	if r, ok := v.(refreshed); ok {
		m := mapResult(r.output)
		m.stopPod = true
		return m
	}
	dict, ok := asDict(v)
	if !ok {
		return mappedResult{fields: []field{{keyOutput, v}}}
	}
	var r mappedResult
	errValue, hasErr := dict[keyError]
	refresh, hasRefresh := dict[keyRefreshWorker]
	delete(dict, keyError)
	delete(dict, keyRefreshWorker)
	if len(dict) > 0 {
		r.fields = append(r.fields, field{keyOutput, dict})
	}
	if hasErr && wire.TruthyValue(errValue) {
		r.fields = append(r.fields, field{keyError, errValue})
		r.failed = true
	}
	if hasRefresh && wire.TruthyValue(refresh) {
		r.stopPod = true
	}
	return r
}

// asDict returns a copy of v as a map[string]any when v is a non-nil Go map
// whose keys are strings. A nil map is not a dict: it encodes as null.
func asDict(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		if m == nil {
			return nil, false
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String || rv.IsNil() {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		out[it.Key().String()] = it.Value().Interface()
	}
	return out, true
}
