package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/engine"
)

// Error types, as OpenAI's API spells them in error.type.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuth           = "authentication_error"
	typeRateLimit      = "rate_limit_error"
	typeServer         = "server_error"
	typeTimeout        = "timeout_error"
)

// maxMessage bounds an error message taken from a worker.
const maxMessage = 4 << 10

// Error is an answer in OpenAI's error shape:
//
//	{"error": {"message": "...", "type": "...", "param": null, "code": null}}
//
// with its HTTP status. Param and Code are null when empty.
type Error struct {
	Status     int
	Type       string
	Code       string
	Message    string
	Param      string
	RetryAfter time.Duration // sent as Retry-After (whole seconds) when set
	allow      string        // Allow header of a 405
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Type + ": " + e.Message }

// errorBody is the wire shape of an Error.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// body is e's JSON body, newline-terminated.
func (e *Error) body() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{errorFields{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}})
	return b.Bytes()
}

// write answers e as JSON with its status and headers.
func (e *Error) write(w http.ResponseWriter) {
	b := e.body()
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(e.RetryAfter.Round(time.Second)/time.Second))))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// fromRefusal is the client API's refusal (key, endpoint, rate limit) in
// OpenAI's shape.
func fromRefusal(rf *api.Refusal) *Error {
	e := &Error{Status: rf.Status, Message: rf.Message, RetryAfter: rf.RetryAfter, Type: typeInvalidRequest}
	switch rf.Status {
	case http.StatusUnauthorized:
		e.Type, e.Code = typeAuth, "invalid_api_key"
	case http.StatusNotFound:
		e.Code = "endpoint_not_found"
	case http.StatusTooManyRequests:
		e.Type, e.Code = typeRateLimit, "rate_limit_exceeded"
	}
	return e
}

// fromEngine is an engine error from a submit or a read, or nil when the
// cause must stay in the log (the caller answers 500 then).
func fromEngine(err error) *Error {
	switch {
	case errors.Is(err, api.ErrEndpointRemoved), errors.Is(err, engine.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "endpoint_not_found", Message: err.Error()}
	case errors.Is(err, engine.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large", Message: "the request is too large for the job store"}
	case errors.Is(err, engine.ErrQueueFull):
		return &Error{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: "queue_full", RetryAfter: retryFull,
			Message: "the endpoint's queue is full (its maxQueue in the config); retry later"}
	case engine.StorageFull(err):
		return &Error{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: "storage_full", RetryAfter: retryFull,
			Message: "the job store is full (the server's maxStorage limit); retry later"}
	case errors.Is(err, engine.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "unavailable", RetryAfter: time.Second,
			Message: "the job engine is shutting down; retry shortly"}
	case engine.Unavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "unavailable", RetryAfter: 2 * time.Second,
			Message: "the job store is not available right now (NATS node or cluster down, or a leader election); retry shortly"}
	}
	return nil
}

// retryFull is Retry-After when a queue or the store is full.
const retryFull = 5 * time.Second

var errInternal = &Error{Status: http.StatusInternalServerError, Type: typeServer, Code: "internal_error",
	Message: "internal error; the server log has the details"}

// fromJob is the error answer for a job that ended without a result:
// FAILED (the worker's error, with its status when it names a 4xx or 5xx
// one), TIMED_OUT (504) or CANCELLED (502).
func fromJob(j *engine.Job) *Error {
	switch j.Status {
	case engine.StatusTimedOut:
		return &Error{Status: http.StatusGatewayTimeout, Type: typeTimeout, Code: "job_timed_out",
			Message: "job " + j.ID + " ran out of time (the endpoint's executionTimeoutMs) before the worker answered"}
	case engine.StatusCancelled:
		return &Error{Status: http.StatusBadGateway, Type: typeServer, Code: "job_cancelled",
			Message: "job " + j.ID + " was cancelled before the worker answered"}
	}
	e := workerError(j.Error)
	if e.Message == "" {
		e.Message = "the worker failed job " + j.ID + " without saying why"
	}
	return e
}

// A worker's error reaches Sluice as runpod-python sends it: a string,
// often Python's repr of the dict the handler yielded, such as
// {'message': "...", 'type': 'worker_error', 'code': None}. These pick the
// fields out of a repr; JSON is decoded as JSON.
var (
	reprMessage = regexp.MustCompile(`['"]message['"]\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")`)
	reprType    = regexp.MustCompile(`['"]type['"]\s*:\s*['"]([A-Za-z0-9_.-]{1,64})['"]`)
	reprParam   = regexp.MustCompile(`['"]param['"]\s*:\s*['"]([A-Za-z0-9_.\[\]-]{1,64})['"]`)
	reprCode    = regexp.MustCompile(`['"]code['"]\s*:\s*([1-5][0-9][0-9])\b`)
	// worker-vllm's message when vLLM refused the request.
	httpStatus = regexp.MustCompile(`returned HTTP ([45][0-9][0-9])\b`)
)

// workerError reads a FAILED job's error value: a JSON object, a JSON
// string holding JSON, a Python repr of a dict, or plain text.
func workerError(raw json.RawMessage) *Error {
	e := &Error{Status: http.StatusInternalServerError, Type: typeServer, Code: "worker_error"}
	var text string
	if json.Unmarshal(raw, &text) != nil {
		text = string(raw)
	}
	text = strings.TrimSpace(text)
	var obj map[string]any
	if json.Unmarshal([]byte(text), &obj) == nil {
		fromObject(e, obj)
	} else {
		e.Message = text
		if m := reprMessage.FindStringSubmatch(text); m != nil {
			e.Message = unrepr(m[1] + m[2])
		}
		if m := reprType.FindStringSubmatch(text); m != nil {
			e.Type = m[1]
		}
		if m := reprParam.FindStringSubmatch(text); m != nil {
			e.Param = m[1]
		}
		if m := reprCode.FindStringSubmatch(text); m != nil {
			setStatus(e, m[1])
		}
	}
	if e.Status >= 500 {
		if m := httpStatus.FindStringSubmatch(e.Message); m != nil {
			setStatus(e, m[1])
		}
	}
	if len(e.Message) > maxMessage {
		e.Message = strings.ToValidUTF8(e.Message[:maxMessage], "") + "..."
	}
	return e
}

// fromObject fills e from an error object: {"message", "type", "code"},
// possibly nested under "error" (OpenAI's shape) or vLLM's older flat
// ErrorResponse ({"object": "error", "message", "type", "code"}).
func fromObject(e *Error, obj map[string]any) {
	if inner, ok := obj["error"].(map[string]any); ok {
		obj = inner
	}
	switch m := obj["message"].(type) {
	case string:
		e.Message = m
	case nil:
		if s, ok := obj["error"].(string); ok {
			e.Message = s
		} else {
			b, _ := json.Marshal(obj)
			e.Message = string(b)
		}
	default:
		b, _ := json.Marshal(m)
		e.Message = string(b)
	}
	if t, ok := obj["type"].(string); ok && t != "" {
		e.Type = t
	}
	switch c := obj["code"].(type) {
	case float64:
		setStatus(e, strconv.FormatFloat(c, 'f', -1, 64))
	case string:
		if !setStatus(e, c) {
			e.Code = c
		}
	}
	if p, ok := obj["param"].(string); ok {
		e.Param = p
	}
}

// setStatus takes code as e's status when it is a 4xx or 5xx status, and
// reports whether it did.
func setStatus(e *Error, code string) bool {
	n, err := strconv.Atoi(code)
	if err != nil || n < 400 || n > 599 {
		return false
	}
	e.Status = n
	if n < 500 && e.Type == typeServer {
		e.Type = typeInvalidRequest
	}
	return true
}

// unrepr undoes the escapes of a Python string literal that matter in a
// message.
func unrepr(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\'`, `'`, `\"`, `"`, `\n`, "\n", `\t`, "\t").Replace(s)
}

// errorObject reports whether a worker's answer body is an error in
// OpenAI's shape or vLLM's older one, and returns it as an Error.
func errorObject(body []byte) (*Error, bool) {
	var probe struct {
		Object string          `json:"object"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return nil, false
	}
	isErr := probe.Object == "error" || (len(probe.Error) > 0 && probe.Error[0] == '{')
	if !isErr {
		return nil, false
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return nil, false
	}
	e := &Error{Status: http.StatusInternalServerError, Type: typeServer, Code: "worker_error"}
	fromObject(e, obj)
	return e, true
}
