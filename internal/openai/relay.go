package openai

import (
	"bytes"
	"encoding/json"
	"io"
)

// relay writes a job's stream chunks as the server-sent events of an
// OpenAI streaming answer. Workers yield their chunks in one of these
// shapes (docs/spec/openai.md):
//
//   - a string of SSE text, one or more whole events ("data: {...}\n\n",
//     worker-vllm's raw output, worker-sglang's multi-line events) or an
//     arbitrary slice of the server's byte stream (worker-vllm's proxy):
//     written as is;
//   - a string holding one bare JSON object, at an event boundary: sent as
//     one data event;
//   - a JSON object: one data event;
//   - an array of the above (a batch): each element in order.
//
// The answer ends with "data: [DONE]" unless the worker's text sent it.
type relay struct {
	w        io.Writer
	tail     []byte // the last bytes written, to find event boundaries and [DONE] across chunks
	done     bool   // a "data: [DONE]" event was written
	buf      bytes.Buffer
	boundary bool // what was written ends an event (or nothing was)
}

func newRelay(w io.Writer) *relay { return &relay{w: w, boundary: true} }

// tailLen is enough of the written text to see "\ndata: [DONE]" and "\n\n".
const tailLen = 24

// chunk adds one stream chunk to the pending output.
func (r *relay) chunk(raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		r.text(s)
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			r.event(raw)
			return
		}
		for _, it := range items {
			if t := bytes.TrimSpace(it); len(t) > 0 && t[0] == '[' {
				r.event(t) // a nested array is data, not another batch
				continue
			}
			r.chunk(it)
		}
	case 'n':
		// null: nothing to send.
	default:
		r.event(raw)
	}
}

// text writes a string chunk.
func (r *relay) text(s string) {
	if s == "" {
		return
	}
	if r.boundary {
		if t := bytes.TrimSpace([]byte(s)); len(t) > 0 && t[0] == '{' && json.Valid(t) {
			r.event(t)
			return
		}
	}
	r.write([]byte(s))
}

// event writes one data event carrying data (a JSON value).
func (r *relay) event(data []byte) {
	if !r.boundary {
		r.write([]byte("\n\n")) // end the worker's unfinished event first
	}
	r.write([]byte("data: "))
	if err := json.Compact(&r.buf, data); err != nil {
		r.buf.Write(data)
	}
	r.noteWritten(data)
	r.write([]byte("\n\n"))
}

// write adds b to the pending output and tracks boundaries and [DONE].
func (r *relay) write(b []byte) {
	r.buf.Write(b)
	r.noteWritten(b)
}

func (r *relay) noteWritten(b []byte) {
	if len(b) == 0 {
		return
	}
	seen := append(r.tail, b...)
	if containsDone(seen) {
		r.done = true
	}
	if len(seen) > tailLen {
		seen = seen[len(seen)-tailLen:]
	}
	r.tail = append(r.tail[:0], seen...)
	r.boundary = bytes.HasSuffix(r.tail, []byte("\n\n")) || bytes.HasSuffix(r.tail, []byte("\r\n\r\n"))
}

// containsDone reports whether b has a line "data: [DONE]" or "data:[DONE]"
// that ends (or is followed by the end of b).
func containsDone(b []byte) bool {
	for _, m := range [][]byte{[]byte("data: [DONE]"), []byte("data:[DONE]")} {
		for i := bytes.Index(b, m); i >= 0; {
			if i == 0 || b[i-1] == '\n' || b[i-1] == '\r' {
				return true
			}
			j := bytes.Index(b[i+1:], m)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return false
}

// comment adds an SSE comment (a keep-alive) when it cannot split an event.
func (r *relay) comment() {
	if r.boundary {
		r.buf.WriteString(": keep-alive\n\n")
	}
}

// fail ends the stream with an error event in OpenAI's shape; the OpenAI
// SDKs raise it as an APIError.
func (r *relay) fail(e *Error) {
	r.event(bytes.TrimSpace(e.body()))
}

// finish ends the stream with "data: [DONE]" unless the worker sent it.
func (r *relay) finish() {
	if !r.done {
		if !r.boundary {
			r.write([]byte("\n\n"))
		}
		r.write([]byte("data: [DONE]\n\n"))
	}
}

// flush writes the pending output. It reports the writer's error.
func (r *relay) flush() error {
	if r.buf.Len() == 0 {
		return nil
	}
	_, err := r.w.Write(r.buf.Bytes())
	r.buf.Reset()
	return err
}

// pending reports whether output waits for flush.
func (r *relay) pending() bool { return r.buf.Len() > 0 }
