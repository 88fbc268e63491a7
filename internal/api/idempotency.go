package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
)

const headerIdempotencyKey = "Idempotency-Key"

// idempotency copies the request's Idempotency-Key header into req with the
// hash of body as a JSON value (key order, spacing and number spelling do
// not count), so the engine returns the key's job for the same request and
// ErrIdempotencyMismatch for another.
func idempotency(r *http.Request, body []byte, req *engine.SubmitRequest) error {
	key := r.Header.Get(headerIdempotencyKey)
	if key == "" {
		return nil
	}
	if len(key) > engine.MaxIdempotencyKey {
		return badRequest("%s header of %d bytes: at most %d are allowed", headerIdempotencyKey, len(key), engine.MaxIdempotencyKey)
	}
	hash, err := jsonHash(body)
	if err != nil {
		return badRequest("body is not JSON: %s", jsonProblem(err))
	}
	req.IdempotencyKey, req.IdempotencyHash = key, hash
	return nil
}

// jsonHash is the SHA-256 of body's JSON value in a canonical form: objects
// with sorted keys (encoding/json sorts map keys), no spacing, numbers as
// exact rationals.
func jsonHash(body []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(canonicalNumbers(v))
	if err != nil {
		return "", fmt.Errorf("canonical body: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalNumbers replaces each json.Number in v by one spelling of its
// value, so 1, 1.0 and 10e-1 compare equal without float rounding.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return json.RawMessage(canonicalNumber(string(x)))
	case map[string]any:
		for k, e := range x {
			x[k] = canonicalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonicalNumbers(e)
		}
	}
	return v
}

// canonicalNumber writes a JSON number as <digits without trailing
// zeros>e<exponent>, or 0.
func canonicalNumber(s string) string {
	sign := ""
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sign, s = "-", rest
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil {
			return sign + s // an exponent past int64: compared as written
		}
		mant, exp = s[:i], e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= int64(len(frac))
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return "0"
	}
	exp += int64(len(digits) - len(trimmed))
	return sign + trimmed + "e" + strconv.FormatInt(exp, 10)
}
