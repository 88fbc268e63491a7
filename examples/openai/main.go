// Command openai is a queue worker on the contract of Runpod's LLM workers
// (worker-vllm, worker-sglang; docs/spec/openai.md), with a toy model that
// answers "you said: ..." word by word. The OpenAI SDKs call it through
// the endpoint's OpenAI-compatible routes:
//
//	from openai import OpenAI
//	c = OpenAI(base_url="http://127.0.0.1:8080/v2/llm/openai/v1", api_key="unused")
//	c.chat.completions.create(model="sluice-echo", messages=[{"role": "user", "content": "hi"}])
//
// Each request is a job whose input is {"openai_route": "/v1/...",
// "openai_input": BODY}. A "stream": true request yields server-sent event
// text ("data: {chunk}\n\n", then "data: [DONE]\n\n"), which Sluice relays
// as it comes; a plain one yields the whole answer as one object.
//
//	go run ./examples/openai --test_input '{"input": {"openai_route": "/v1/models", "openai_input": {}}}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

// model is the one model this worker serves.
const model = "sluice-echo"

// request is the part of an OpenAI request body the toy model reads.
type request struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Prompt   any    `json:"prompt"` // completions: a string or a list of strings
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"` // a string or a list of parts
	} `json:"messages"`
}

// input is a job of the OpenAI-compatible routes.
type input struct {
	Route string          `json:"openai_route"`
	Body  json.RawMessage `json:"openai_input"`
}

// handle answers one OpenAI request.
func handle(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		var in input
		if err := job.Decode(&in); err != nil {
			yield(nil, err)
			return
		}
		if in.Route == "/v1/models" {
			yield(map[string]any{"object": "list", "data": []any{
				map[string]any{"id": model, "object": "model", "created": 0, "owned_by": "sluice"},
			}}, nil)
			return
		}
		var req request
		if len(in.Body) > 0 {
			if err := json.Unmarshal(in.Body, &req); err != nil {
				yield(nil, fmt.Errorf("the request body is not an OpenAI request: %w", err))
				return
			}
		}
		if req.Model != model {
			yield(nil, fmt.Errorf("the model %q does not exist: this worker serves %q", req.Model, model))
			return
		}
		var text string
		var chat bool
		switch in.Route {
		case "/v1/chat/completions":
			chat, text = true, lastUserText(req)
		case "/v1/completions":
			text = fmt.Sprint(req.Prompt)
		default:
			yield(nil, fmt.Errorf("route %q is not served by this worker", in.Route))
			return
		}
		words := strings.Fields("you said: " + text)
		id := "cmpl-" + job.ID
		if !req.Stream {
			yield(answer(id, chat, strings.Join(words, " ")), nil)
			return
		}
		for i, w := range words {
			if i > 0 {
				w = " " + w
				select { // a token's worth of work
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			if !yield(event(chunk(id, chat, w, "")), nil) {
				return
			}
		}
		yield(event(chunk(id, chat, "", "stop"))+"data: [DONE]\n\n", nil)
	}
}

// lastUserText is the text of the last user message.
func lastUserText(req request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			return s
		}
		var parts []struct{ Type, Text string }
		if json.Unmarshal(m.Content, &parts) == nil {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.Text)
			}
			return b.String()
		}
	}
	return ""
}

// answer is a whole (non-streamed) answer.
func answer(id string, chat bool, text string) map[string]any {
	choice := map[string]any{"index": 0, "finish_reason": "stop"}
	object := "text_completion"
	if chat {
		choice["message"] = map[string]any{"role": "assistant", "content": text}
		object = "chat.completion"
	} else {
		choice["text"] = text
	}
	n := len(strings.Fields(text))
	return map[string]any{"id": id, "object": object, "created": time.Now().Unix(), "model": model,
		"choices": []any{choice}, "usage": map[string]int{"prompt_tokens": n, "completion_tokens": n, "total_tokens": 2 * n}}
}

// chunk is one streamed piece of an answer; finish is set on the last.
func chunk(id string, chat bool, text, finish string) map[string]any {
	choice := map[string]any{"index": 0, "finish_reason": nil}
	if finish != "" {
		choice["finish_reason"] = finish
	}
	object := "text_completion"
	if chat {
		delta := map[string]any{}
		if text != "" {
			delta["content"] = text
		}
		choice["delta"] = delta
		object = "chat.completion.chunk"
	} else {
		choice["text"] = text
	}
	return map[string]any{"id": id, "object": object, "created": time.Now().Unix(), "model": model, "choices": []any{choice}}
}

// event is v as one server-sent event, as the LLM workers yield them.
func event(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.New("a chunk of maps, strings and numbers always marshals"))
	}
	return "data: " + string(b) + "\n\n"
}

func main() {
	serverless.Start(serverless.Config{StreamHandler: handle, ReturnAggregateStream: true})
}
