// Package openai serves the OpenAI-compatible routes of a queue endpoint,
// as Runpod does for worker-vllm and worker-sglang:
//
//	POST /v2/{endpoint}/openai/v1/chat/completions
//	POST /v2/{endpoint}/openai/v1/completions
//	POST /v2/{endpoint}/openai/v1/embeddings
//	GET  /v2/{endpoint}/openai/v1/models
//
// Each request becomes one job whose input is
// {"openai_route": "/v1/...", "openai_input": <the request body>}, run by the
// endpoint's workers unmodified. A body with "stream": true is answered with
// server-sent events relayed as the worker yields them, ending with
// "data: [DONE]"; any other request with the worker's JSON answer. Errors
// are in OpenAI's shape ({"error": {"message", "type", "param", "code"}}).
// A client that goes away before the answer cancels the job. The contract
// with the workers is written down in docs/spec/openai.md.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
)

// Pattern is the ServeMux pattern the handler serves.
const Pattern = "/v2/{endpoint}/openai/{path...}"

// RateRoute is the route name the requests are rate-limited under
// (rateLimits: openai, else the config's "*" limit).
const RateRoute = "openai"

const (
	contentTypeJSON        = "application/json"
	contentTypeEventStream = "text/event-stream"
	headerRequestID        = "X-Request-Id"
	defaultKeepAlive       = 15 * time.Second
	cancelTimeout          = 10 * time.Second
	attrEndpoint           = logkey.Endpoint
	attrJob                = logkey.JobID
	attrErr                = logkey.Err
	attrRoute              = "route"
)

// Engine is what the handler needs from the job engine; the server's
// api.Engine (which wakes the scaler on a submit) implements it.
type Engine interface {
	Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error)
	Wait(ctx context.Context, endpoint, id string) (*engine.Job, error)
	ReadStream(ctx context.Context, endpoint, id string) (*engine.Job, []json.RawMessage, error)
	Cancel(ctx context.Context, endpoint, id string) (*engine.Job, error)
}

// Config configures New. Engine and Check are required.
type Config struct {
	// Engine runs the jobs. Required.
	Engine Engine
	// Check runs the client API's checks (key, endpoint, rate limit) on a
	// request: *api.Handler's CheckClient. Required.
	Check func(r *http.Request, endpoint, route string) *api.Refusal
	// BodyLimit caps request bodies. Defaults to api.DefaultRunBodyLimit
	// (10 MiB, like /run).
	BodyLimit int64
	// KeepAlive is how often an idle stream gets an SSE comment. Defaults
	// to 15 s.
	KeepAlive time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler serves the OpenAI-compatible routes. Create it with New.
type Handler struct {
	cfg Config
	log *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New returns the handler for cfg.
func New(cfg Config) *Handler {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = api.DefaultRunBodyLimit
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// ServeHTTP implements http.Handler for requests matched by Pattern.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := r.PathValue("endpoint")
	if rf := h.cfg.Check(r, ep, RateRoute); rf != nil {
		fromRefusal(rf).write(w)
		return
	}
	var body []byte
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.BodyLimit)); err != nil {
			bodyError(err, h.cfg.BodyLimit).write(w)
			return
		}
	}
	req, err := ParseRequest(r.Method, "/"+r.PathValue("path"), body)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = invalidBody(err.Error(), "")
		}
		e.write(w)
		return
	}
	job, err := h.cfg.Engine.Submit(r.Context(), ep, engine.SubmitRequest{Input: req.Input, Sync: true})
	if err != nil {
		h.engineError(w, r, "submit OpenAI request", err, slog.String(attrEndpoint, ep))
		return
	}
	w.Header().Set(headerRequestID, job.ID)
	if req.Stream {
		h.stream(w, r, ep, job.ID)
		return
	}
	h.answer(w, r, ep, job.ID)
}

// bodyError is the answer to a body that could not be read.
func bodyError(err error, limit int64) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large",
			Message: "request body is over the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
	}
	return invalidBody("reading the request body: "+err.Error(), "")
}

// engineError answers an engine error: a known one with its status, any
// other logged and answered 500 without its cause.
func (h *Handler) engineError(w http.ResponseWriter, r *http.Request, what string, err error, attrs ...slog.Attr) {
	if r.Context().Err() != nil {
		return // the client went away; nobody reads the answer
	}
	e := fromEngine(err)
	if e == nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, what, append(attrs, slog.String(attrRoute, r.URL.Path), slog.Any(attrErr, err))...)
		e = errInternal
	}
	e.write(w)
}

// abandon cancels a job whose answer nobody will read: its client went
// away (or the request failed). A job already finished stays as it is.
func (h *Handler) abandon(r *http.Request, ep, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), cancelTimeout)
	defer cancel()
	if _, err := h.cfg.Engine.Cancel(ctx, ep, id); err != nil && !errors.Is(err, engine.ErrConflict) {
		h.log.LogAttrs(ctx, slog.LevelWarn, "cancel abandoned OpenAI request", slog.String(attrEndpoint, ep), slog.String(attrJob, id), slog.Any(attrErr, err))
		return
	}
	h.log.LogAttrs(ctx, slog.LevelDebug, "OpenAI request ended before its answer; job cancelled unless finished", slog.String(attrEndpoint, ep), slog.String(attrJob, id))
}

// answer waits for the job and answers with the worker's JSON body.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, ep, id string) {
	job, err := h.cfg.Engine.Wait(r.Context(), ep, id)
	if r.Context().Err() != nil {
		h.abandon(r, ep, id)
		return
	}
	if err != nil {
		h.engineError(w, r, "wait for OpenAI job "+id, err, slog.String(attrEndpoint, ep), slog.String(attrJob, id))
		h.abandon(r, ep, id)
		return
	}
	if job.Status != engine.StatusCompleted {
		fromJob(job).write(w)
		return
	}
	var chunks []json.RawMessage
	if len(job.Output) == 0 || string(job.Output) == "null" || string(job.Output) == "[]" {
		// A generator handler without return_aggregate_stream: the answer
		// is in its stream.
		for {
			_, more, err := h.cfg.Engine.ReadStream(r.Context(), ep, id)
			if err != nil {
				h.engineError(w, r, "read OpenAI job "+id, err, slog.String(attrEndpoint, ep), slog.String(attrJob, id))
				return
			}
			if len(more) == 0 {
				break // the job is over: an empty read is the end of its stream
			}
			chunks = append(chunks, more...)
		}
	}
	body, e := answerBody(job.Output, chunks)
	if e != nil {
		e.write(w)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// stream relays the job's stream chunks as server-sent events, flushing
// each read. The status line waits for the first chunk, so a job that
// fails before yielding gets a proper error status.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, ep, id string) {
	rc := http.NewResponseController(w)
	out := newRelay(w)
	started, relayed := false, false
	attempt := -1 // the job's Retries when its first chunk arrived
	for {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.KeepAlive)
		job, chunks, err := h.cfg.Engine.ReadStream(ctx, ep, id)
		cancel()
		if r.Context().Err() != nil {
			h.abandon(r, ep, id)
			return
		}
		if err != nil {
			e := fromEngine(err)
			if e == nil {
				h.log.LogAttrs(r.Context(), slog.LevelError, "read OpenAI stream", slog.String(attrEndpoint, ep), slog.String(attrJob, id), slog.Any(attrErr, err))
				e = errInternal
			}
			h.abandon(r, ep, id)
			if !started {
				e.write(w)
				return
			}
			out.fail(e)
			_ = out.flush()
			return
		}
		if attempt < 0 && len(chunks) > 0 {
			attempt = job.Retries
		}
		if relayed && job.Retries != attempt {
			// The worker was lost mid-answer and the job runs again from the
			// start: its new chunks would repeat what the client has.
			h.abandon(r, ep, id)
			out.fail(&Error{Status: http.StatusBadGateway, Type: typeServer, Code: "worker_lost",
				Message: "the worker running job " + id + " was lost mid-answer; send the request again"})
			_ = out.flush()
			return
		}
		for _, c := range chunks {
			out.chunk(c)
			relayed = true
		}
		end := job.Status.Terminal() && len(chunks) == 0
		switch {
		case end && job.Status == engine.StatusCompleted:
			if !relayed {
				out.chunk(job.Output) // a handler that returned its events instead of yielding them
			}
			out.finish()
		case end && !started && !out.pending():
			fromJob(job).write(w)
			return
		case end:
			out.fail(fromJob(job))
		case started && !out.pending():
			out.comment()
		}
		if out.pending() {
			if !started {
				started = true
				hd := w.Header()
				hd.Set("Content-Type", contentTypeEventStream)
				hd.Set("Cache-Control", "no-cache")
				hd.Set("X-Accel-Buffering", "no")
				w.WriteHeader(http.StatusOK)
			}
			err := out.flush()
			if err == nil {
				err = rc.Flush()
			}
			if err != nil && !end {
				h.abandon(r, ep, id) // the client is gone
				return
			}
		}
		if end {
			return
		}
	}
}
