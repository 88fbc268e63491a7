package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Routes a worker sees in openai_route, by the method that reaches them.
// Runpod's workers (worker-vllm, worker-sglang) forward openai_route to an
// OpenAI-compatible server; these are the routes Runpod documents, plus
// embeddings, which the same servers answer.
var routes = map[string]string{
	"/v1/chat/completions": http.MethodPost,
	"/v1/completions":      http.MethodPost,
	"/v1/embeddings":       http.MethodPost,
	"/v1/models":           http.MethodGet,
}

// Request is a parsed OpenAI-compatible request, ready to become a job.
type Request struct {
	// Route is the OpenAI route ("/v1/chat/completions"), handed to the
	// worker as openai_route.
	Route string
	// Stream is the body's "stream": true. The answer is then server-sent
	// events.
	Stream bool
	// Input is the job input: {"openai_route": Route, "openai_input": body}.
	Input json.RawMessage
}

// ParseRequest turns an OpenAI request into a job request: method and
// route (the path after /v2/{endpoint}/openai, e.g. "/v1/models") and the
// body (ignored for GET). Every error it returns is an *Error fit for the
// client (404 unknown route, 405 wrong method, 400 bad body).
func ParseRequest(method, route string, body []byte) (Request, error) {
	want, ok := routes[route]
	if !ok {
		return Request{}, &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "unknown_url",
			Message: "unknown OpenAI route " + quoteRoute(route) + "; this endpoint serves POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings and GET /v1/models"}
	}
	if method != want {
		return Request{}, &Error{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest, Code: "method_not_allowed",
			Message: "method " + method + " is not allowed on " + route + "; use " + want, allow: want}
	}
	if method == http.MethodGet {
		// Runpod hands a GET to the worker with an empty openai_input;
		// worker-vllm reads an empty one as "proxy this as a GET".
		return Request{Route: route, Input: jobInput(route, []byte("{}"))}, nil
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Request{}, invalidBody("empty request body: send a JSON object such as {\"model\": \"...\", \"messages\": [...]}", "")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return Request{}, invalidBody("the request body is not a JSON object: "+jsonProblem(err), "")
	}
	req := Request{Route: route}
	if s, ok := fields["stream"]; ok && !bytes.Equal(s, []byte("null")) {
		if err := json.Unmarshal(s, &req.Stream); err != nil {
			return Request{}, invalidBody("\"stream\" must be true or false, not "+truncate(string(s), 40), "stream")
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return Request{}, invalidBody("the request body is not valid JSON: "+err.Error(), "")
	}
	req.Input = jobInput(route, compact.Bytes())
	return req, nil
}

// jobInput is the input of the job that carries an OpenAI request, in the
// shape worker-vllm and worker-sglang read.
func jobInput(route string, body []byte) json.RawMessage {
	r, _ := json.Marshal(route)
	var b bytes.Buffer
	b.Grow(len(body) + len(r) + 36)
	b.WriteString(`{"openai_route":`)
	b.Write(r)
	b.WriteString(`,"openai_input":`)
	b.Write(body)
	b.WriteByte('}')
	return b.Bytes()
}

func invalidBody(msg, param string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_request_body", Message: msg, Param: param}
}

// jsonProblem describes why a body failed to decode as an object.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "it is null"
	case errors.As(err, &te):
		return "it is a JSON " + te.Value
	}
	return "it is not valid JSON (" + err.Error() + ")"
}

// quoteRoute quotes a route for a message, truncated.
func quoteRoute(r string) string {
	return `"` + strings.ToValidUTF8(truncate(r, 120), "?") + `"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
