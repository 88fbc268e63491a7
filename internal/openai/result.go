package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// answerBody picks the OpenAI JSON body out of a finished job's output (or,
// when the output is empty, its stream chunks). Workers answer a plain
// request in one of these shapes (docs/spec/openai.md):
//
//   - with return_aggregate_stream: the list of what the handler yielded,
//     one JSON object (worker-vllm) or strings that together hold one JSON
//     text (worker-sglang yields the server's answer line by line);
//   - from a handler that returns: the object itself, or a string holding
//     JSON.
//
// An answer that is an error object (OpenAI's or vLLM's older flat shape)
// is returned as an *Error; an answer in no shape above is a 502.
func answerBody(output json.RawMessage, chunks []json.RawMessage) ([]byte, *Error) {
	items := []json.RawMessage{}
	output = bytes.TrimSpace(output)
	switch {
	case len(output) == 0 || bytes.Equal(output, []byte("null")) || bytes.Equal(output, []byte("[]")):
		items = chunks
	case output[0] == '[':
		if json.Unmarshal(output, &items) != nil {
			items = []json.RawMessage{output}
		}
	default:
		items = []json.RawMessage{output}
	}
	var objects [][]byte
	var text strings.Builder
	for _, it := range items {
		it = bytes.TrimSpace(it)
		switch {
		case len(it) == 0 || bytes.Equal(it, []byte("null")):
		case it[0] == '"':
			var s string
			if json.Unmarshal(it, &s) == nil {
				text.WriteString(s)
			}
		default:
			objects = append(objects, it)
		}
	}
	var body []byte
	switch {
	case len(objects) == 1 && strings.TrimSpace(text.String()) == "":
		body = objects[0]
	case len(objects) == 0 && json.Valid([]byte(strings.TrimSpace(text.String()))):
		body = []byte(strings.TrimSpace(text.String()))
	default:
		return nil, &Error{Status: http.StatusBadGateway, Type: typeServer, Code: "bad_worker_answer",
			Message: "the worker's answer is not one JSON body (" + strconv.Itoa(len(objects)) + " JSON values and " +
				strconv.Itoa(text.Len()) + " bytes of text); an OpenAI-compatible worker yields the server's JSON answer once for a request without \"stream\": true"}
	}
	if e, ok := errorObject(body); ok {
		return nil, e
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		return body, nil
	}
	return compact.Bytes(), nil
}
