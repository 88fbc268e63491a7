package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
)

// streamSSE serves /stream/{id} as Server-Sent Events, for clients that send
// Accept: text/event-stream. Events:
//
//	event: status  data: {"id","status","delayTime",...} whenever the status changes
//	event: chunk   data: <the chunk's output JSON>, once per chunk, in order
//	event: done    data: the final job view; the server then closes the stream
//	event: error   data: {"error": "..."}; the server then closes the stream
//
// Comment lines keep idle connections alive. Chunks read here are drained
// like with the JSON /stream: each is delivered once.
func (h *Handler) streamSSE(w http.ResponseWriter, r *http.Request, ep, id string) {
	job, err := h.cfg.Engine.Get(r.Context(), ep, id)
	if err != nil {
		h.engineError(w, r, "job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", contentTypeEventStream)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	event := func(name string, data []byte) {
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteString("\ndata: ")
		if err := json.Compact(&buf, data); err != nil {
			buf.WriteString("null")
		}
		buf.WriteString("\n\n")
	}
	eventJSON := func(name string, v any) {
		b, _ := json.Marshal(v)
		event(name, b)
	}
	flush := func() bool {
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	last := job.Status
	eventJSON("status", ViewOf(job))
	if !flush() {
		return
	}
	for r.Context().Err() == nil {
		ctx, cancel := context.WithTimeout(r.Context(), sseKeepAlive)
		job, chunks, err := h.cfg.Engine.ReadStream(ctx, ep, id)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			h.log.LogAttrs(r.Context(), slog.LevelError, "sse stream read", jobAttrs(ep, id, "", err)...)
			eventJSON("error", errorBody{Error: "reading the stream failed; GET /status/" + id + " for the job's state"})
			flush()
			return
		}
		for _, c := range chunks {
			event("chunk", c)
		}
		switch {
		case job.Status.Terminal() && len(chunks) == 0:
			eventJSON("done", ViewOf(job))
			flush()
			return
		case job.Status != last:
			last = job.Status
			eventJSON("status", ViewOf(job))
		case len(chunks) == 0:
			buf.WriteString(": keep-alive\n\n")
		}
		if !flush() {
			return
		}
	}
}
