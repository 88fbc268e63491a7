package wire

import (
	"bytes"
	"encoding/json"
)

// Truthy reports whether a JSON value is true as Python would judge it (how
// runpod-python reads a result's "error", "stopPod" and "refresh_worker"):
// null, false, 0, "", [] and {} are not; anything else is, an undecodable
// non-empty value included.
func Truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch string(v) {
	case "", "null", "false", `""`, "[]", "{}", "0":
		return false
	case "true":
		return true
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return true
	}
	return TruthyValue(x)
}

// TruthyValue is Truthy for a Go value, judged as its JSON encoding: a
// value that cannot be encoded counts as true.
func TruthyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case float64:
		return x != 0
	case int:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case json.RawMessage:
		return Truthy(x)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return true
	}
	return Truthy(raw)
}
