package engine

import (
	"bytes"
	"strings"
)

// scanIndexRec reads the fields of indexRec from a stored record without
// decoding the rest: a walk over the top-level keys that skips other values
// (inputs, outputs) byte by byte. Building the index of a million records
// is mostly this. It reports false for anything it does not expect (an
// escape in a wanted value, a key spelled in another case, malformed
// JSON); the caller then decodes with encoding/json. For valid JSON it
// accepts, the result is json.Unmarshal's (FuzzScanIndexRec).
func scanIndexRec(b []byte, r *indexRec) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		switch key {
		case "id", "status", "createdAt", "expireAt":
			if i < len(b) && b[i] == 'n' { // null leaves the field as it is
				if !bytes.HasPrefix(b[i:], []byte("null")) {
					return false
				}
				i += 4
				break
			}
			v, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			switch key {
			case "id":
				r.ID = v
			case "status":
				r.Status = Status(v)
			case "createdAt":
				if r.CreatedAt.UnmarshalJSON(b[i:j]) != nil {
					return false
				}
			case "expireAt":
				if r.ExpireAt.UnmarshalJSON(b[i:j]) != nil {
					return false
				}
			}
			i = j
		default:
			for _, k := range [...]string{"id", "status", "createdAt", "expireAt"} {
				if strings.EqualFold(key, k) {
					return false // encoding/json would take it
				}
			}
			if i, ok = skipValue(b, i); !ok {
				return false
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] that has no escapes and no
// control characters, and returns it and the index after its closing quote.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", i, false // escapes, control and non-ASCII bytes: leave them to encoding/json
		}
	}
	return "", i, false
}

// skipValue returns the index after the JSON value at b[i] (strings,
// objects and arrays with their nesting; scalars up to a delimiter).
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				j, ok := skipString(b, i)
				if !ok {
					return i, false
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return j, j > i
}

// skipString returns the index after the JSON string at b[i].
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return i, false
}
