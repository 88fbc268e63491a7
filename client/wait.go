package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Wait blocks until the job is terminal and returns its final status, or
// returns ctx's error when ctx ends first. It long-polls
// /status-sync/{id}?wait=ms; on a server without that route it polls
// /status with back-off. A job that failed is not an error of the call:
// check the result's Err method.
//
// Of the request options only [OnUpdate] applies.
func (e *Endpoint) Wait(ctx context.Context, jobID string, opts ...RequestOption) (*JobStatus, error) {
	var r request
	for _, o := range opts {
		o(&r)
	}
	pause := e.c.pollMin
	for {
		start := time.Now()
		st, err := e.pollStatus(ctx, jobID, e.c.longPoll)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait job %s: %w", jobID, ctx.Err())
			}
			return nil, fmt.Errorf("wait job %s: %w", jobID, err)
		}
		if r.onUpdate != nil {
			r.onUpdate(st)
		}
		if st.Status.Terminal() {
			return st, nil
		}
		// A long poll that was held needs no pause; an answer that came
		// back at once (plain /status, or a server ignoring "wait") does.
		if time.Since(start) < pause {
			if err := sleep(ctx, pause-time.Since(start)); err != nil {
				return nil, fmt.Errorf("wait job %s: %w", jobID, err)
			}
			pause = min(pause*2, e.c.pollMax)
		}
	}
}

// pollStatus fetches the status once, with /status-sync when the server
// has it.
func (e *Endpoint) pollStatus(ctx context.Context, jobID string, longPoll time.Duration) (*JobStatus, error) {
	if !e.noStatusSync.Load() {
		q := url.Values{"wait": {strconv.FormatInt(longPoll.Milliseconds(), 10)}}
		st, err := e.statusCall(ctx, call{method: http.MethodGet, path: e.path("status-sync", jobID), query: q, idempotent: true})
		if err == nil || !isRouteMissing(err) {
			return st, err
		}
		// 404 or 405: either no such job or no such route. /status tells.
		st, err2 := e.statusCall(ctx, call{method: http.MethodGet, path: e.path("status", jobID), idempotent: true})
		if err2 != nil {
			return nil, err2
		}
		e.noStatusSync.Store(true)
		return st, nil
	}
	return e.statusCall(ctx, call{method: http.MethodGet, path: e.path("status", jobID), idempotent: true})
}

// streamResponse is the body of /stream/{id}.
type streamResponse struct {
	ID     string            `json:"id"`
	Status Status            `json:"status"`
	Stream []json.RawMessage `json:"stream"`
}

// Stream returns an iterator over the chunks a streaming handler yields
// for the job, in order, each as the JSON value the handler yielded. It
// polls /stream/{id}?wait=ms until the job is terminal and the server has
// no chunk left. Reading /stream drains it on the server: a chunk is
// returned to one reader once (a read retried after a 5xx or a lost
// connection may therefore miss the chunks of the failed read). An error
// (including ctx's) is yielded once,
// with a nil chunk, and ends the iteration. The iterator reports the
// chunks only: fetch [Endpoint.Status] afterwards to learn how the job
// ended.
func (e *Endpoint) Stream(ctx context.Context, jobID string) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		pause := e.c.pollMin
		q := url.Values{"wait": {strconv.FormatInt(e.c.longPoll.Milliseconds(), 10)}}
		for {
			start := time.Now()
			b, err := e.c.do(ctx, call{method: http.MethodGet, path: e.path("stream", jobID), query: q, idempotent: true})
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				yield(nil, fmt.Errorf("stream job %s: %w", jobID, err))
				return
			}
			var r streamResponse
			if err := json.Unmarshal(b, &r); err != nil {
				yield(nil, fmt.Errorf("stream job %s: decode response: %w", jobID, err))
				return
			}
			for _, c := range r.Stream {
				if !yield(chunkOutput(c), nil) {
					return
				}
			}
			if r.Status == StatusRunning {
				r.Status = StatusInProgress
			}
			if r.Status.Terminal() && len(r.Stream) == 0 {
				return
			}
			if len(r.Stream) > 0 {
				pause = e.c.pollMin
				continue
			}
			if time.Since(start) < pause {
				if err := sleep(ctx, pause-time.Since(start)); err != nil {
					yield(nil, fmt.Errorf("stream job %s: %w", jobID, err))
					return
				}
				pause = min(pause*2, e.c.pollMax)
			}
		}
	}
}

// chunkOutput unwraps a stream element {"output": x} to x; other elements
// are returned as they are.
func chunkOutput(c json.RawMessage) json.RawMessage {
	var w map[string]json.RawMessage
	if json.Unmarshal(c, &w) == nil {
		if out, ok := w["output"]; ok {
			return out
		}
	}
	return c
}
