package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice/internal/engine"
)

// Policy limits, in milliseconds, as Runpod documents them.
const (
	minExecutionTimeoutMs = 5_000
	maxExecutionTimeoutMs = 7 * 24 * 3600 * 1000
	minTTLMs              = 10_000
	maxTTLMs              = 7 * 24 * 3600 * 1000
)

// readBody reads r's whole body up to limit bytes. Over the limit it
// returns a 413 *requestError naming the limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &requestError{code: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body is over the %s limit of %s; pass large data by URL instead", r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], sizeString(limit))}
		}
		return nil, badRequest("reading request body: %v", err)
	}
	return body, nil
}

func sizeString(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// DecodeSubmit decodes and validates a /run or /runsync body into an
// engine.SubmitRequest. Every error it returns is a client mistake with a
// message fit for the client.
func DecodeSubmit(body []byte) (engine.SubmitRequest, error) {
	var req engine.SubmitRequest
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return req, badRequest(`empty body: send a JSON object such as {"input": {...}}`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return req, badRequest(`body is not a JSON object (%s): send {"input": {...}} with optional "webhook" and "policy"`, jsonProblem(err))
	}
	if fields == nil {
		return req, badRequest(`body is null: send {"input": {...}}`)
	}
	in, ok := fields["input"]
	if !ok {
		return req, badRequest(`"input" is required: send {"input": {...}}; it reaches the handler as job["input"]`)
	}
	if isNull(in) {
		return req, badRequest(`"input" is null: send the handler's input as a JSON value, e.g. {"input": {"prompt": "hi"}}`)
	}
	req.Input = in
	for _, name := range []string{"webhook", "webhookV2"} {
		raw, ok := fields[name]
		if !ok || isNull(raw) || req.Webhook != "" {
			continue
		}
		u, err := decodeWebhook(name, raw)
		if err != nil {
			return req, err
		}
		req.Webhook = u
	}
	if raw, ok := fields["policy"]; ok && !isNull(raw) {
		p, err := decodePolicy(raw)
		if err != nil {
			return req, err
		}
		req.Policy = p
	}
	for k, v := range fields {
		switch k {
		case "input", "webhook", "webhookV2", "policy":
			continue
		}
		if req.Extra == nil {
			req.Extra = make(map[string]json.RawMessage)
		}
		req.Extra[k] = v
	}
	return req, nil
}

func decodeWebhook(name string, raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// webhookV2 is undocumented; an object carrying "url" is the likely shape.
		var obj struct {
			URL string `json:"url"`
		}
		if name != "webhookV2" || json.Unmarshal(raw, &obj) != nil || obj.URL == "" {
			return "", badRequest(`%q must be a string URL such as "https://example.com/hook"`, name)
		}
		s = obj.URL
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", badRequest(`%q must be an absolute http or https URL, got %q`, name, truncate(s, 200))
	}
	return s, nil
}

func decodePolicy(raw json.RawMessage) (engine.Policy, error) {
	var p engine.Policy
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return p, badRequest(`"policy" must be an object such as {"executionTimeout": 600000, "ttl": 86400000, "lowPriority": false}`)
	}
	for k, v := range fields {
		if isNull(v) {
			continue
		}
		switch k {
		case "executionTimeout":
			ms, err := decodeMillis("policy.executionTimeout", v, minExecutionTimeoutMs, maxExecutionTimeoutMs)
			if err != nil {
				return p, err
			}
			p.ExecutionTimeout = ms
		case "ttl":
			ms, err := decodeMillis("policy.ttl", v, minTTLMs, maxTTLMs)
			if err != nil {
				return p, err
			}
			p.TTL = ms
		case "lowPriority":
			if err := json.Unmarshal(v, &p.LowPriority); err != nil {
				return p, badRequest(`"policy.lowPriority" must be true or false`)
			}
		default:
			return p, badRequest(`"policy.%s" is not a known policy field; known: executionTimeout, ttl (milliseconds), lowPriority`, truncate(k, 100))
		}
	}
	return p, nil
}

// decodeMillis reads a whole number of milliseconds in [lo, hi].
func decodeMillis(name string, raw json.RawMessage, lo, hi int64) (time.Duration, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) {
		return 0, badRequest("%q must be a whole number of milliseconds between %d and %d", name, lo, hi)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, badRequest("%q is %s ms; it must be between %d ms and %d ms", name, shortNumber(f), lo, hi)
	}
	return time.Duration(f) * time.Millisecond, nil
}

// parseWait reads the ?wait= query parameter (milliseconds), clamped to
// [minWait, maxWait]; def when absent.
func parseWait(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return def, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, badRequest("?wait= must be a whole number of milliseconds (1000 to 300000), got %q", truncate(v, 50))
	}
	d := time.Duration(min(ms, int64(maxWait/time.Millisecond))) * time.Millisecond
	return max(d, minWait), nil
}

// pathID reads an id path value. runpod-python appends query parameters with
// a bare "&"; when a URL template lacks its "?", they land in the last path
// segment, so everything from the first "&" is cut off (and returned as a
// query to merge).
func pathID(r *http.Request, name string) (string, url.Values, error) {
	v := r.PathValue(name)
	var extra url.Values
	if i := strings.IndexByte(v, '&'); i >= 0 {
		extra, _ = url.ParseQuery(v[i+1:])
		v = v[:i]
	}
	if !validID(v) {
		label := name
		if name == "id" {
			label = "job"
		}
		return "", nil, badRequest("invalid %s id %q: ids are 1 to %d characters without spaces, control characters, '/', '*' or '>'", label, truncate(v, 50), maxIDLength)
	}
	return v, extra, nil
}

// validID reports whether v can be a job or worker id: ids end up in
// NATS subjects and KV keys, so wildcards and whitespace are refused.
func validID(v string) bool {
	return v != "" && len(v) <= maxIDLength && !strings.ContainsFunc(v, func(c rune) bool {
		return unicode.IsControl(c) || unicode.IsSpace(c) || c == '/' || c == '*' || c == '>'
	})
}

// query is r's query merged with parameters that were cut from the path.
func query(r *http.Request, extra url.Values) url.Values {
	q := r.URL.Query()
	for k, vs := range extra {
		q[k] = append(q[k], vs...)
	}
	return q
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func quoteID(s string) string { return strconv.Quote(truncate(s, 100)) }

// jsonProblem describes a JSON syntax error briefly, with its offset.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "top-level value is a JSON " + te.Value
	}
	return "invalid JSON"
}
