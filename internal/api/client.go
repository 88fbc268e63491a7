package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/wire"
)

func (h *Handler) run(w http.ResponseWriter, r *http.Request, ep string) {
	h.submit(w, r, ep, false)
}

func (h *Handler) runsync(w http.ResponseWriter, r *http.Request, ep string) {
	h.submit(w, r, ep, true)
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, ep string, sync bool) {
	limit := h.cfg.RunBodyLimit
	var wait time.Duration
	if sync {
		limit = h.cfg.RunsyncBodyLimit
		var err error
		if wait, err = parseWait(r, defaultRunsyncWait); err != nil {
			writeRequestError(w, err)
			return
		}
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	req, err := DecodeSubmit(body)
	if err == nil {
		err = h.checkWebhook(r.Context(), req.Webhook)
	}
	if err == nil {
		err = idempotency(r, body, &req)
	}
	if err != nil {
		writeRequestError(w, err)
		return
	}
	req.Sync = sync
	job, err := h.cfg.Engine.Submit(r.Context(), ep, req)
	if err != nil {
		if engine.StorageFull(err) {
			// Over the server's storage limit: the client should slow down.
			w.Header().Set("Retry-After", retryFull)
			writeError(w, http.StatusTooManyRequests, "submit job: "+errStorageFullMessage)
			return
		}
		h.engineError(w, r, "submit job", err, slog.String(attrEndpoint, ep))
		return
	}
	w.Header().Set(headerRequestID, job.ID)
	if !sync {
		// Runpod's /run always answers IN_QUEUE (accepted); the job may
		// already be running (handed straight to an idle worker), which
		// /status shows.
		writeJSON(w, http.StatusOK, wire.Submitted{ID: job.ID, Status: engine.StatusInQueue})
		return
	}
	// The status line and the job id go out now, before the wait (Runpod
	// answers 200 for a runsync still running too), so a client or proxy
	// that gives up early still has the id.
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		h.log.Debug("api: flush runsync headers", attrJob, job.ID, attrErr, err)
	}
	sent := headersSent{w}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	done, err := h.cfg.Engine.Wait(ctx, ep, job.ID)
	if err != nil {
		h.engineError(sent, r, "wait for job "+job.ID, err, jobArgs(ep, job.ID, "")...)
		return
	}
	writeJSON(sent, http.StatusOK, ViewOf(done))
}

// headersSent writes a body after the status line was sent: later status
// codes and headers are dropped (an error then travels in the body alone).
type headersSent struct{ http.ResponseWriter }

func (headersSent) Header() http.Header { return http.Header{} }
func (headersSent) WriteHeader(int)     {}

// jobID reads the {id} path value, answering 400 itself when it is invalid.
func jobID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, _, err := pathID(r, "id")
	if err != nil {
		writeRequestError(w, err)
		return "", false
	}
	w.Header().Set(headerRequestID, id)
	return id, true
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, ep string) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	job, err := h.cfg.Engine.Get(r.Context(), ep, id)
	if err != nil {
		h.engineError(w, r, "job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	v := ViewOf(job)
	if wt, ok := h.cfg.Engine.(Waiter); ok && job.Status == wire.StatusInQueue {
		v.Waiting = wt.Waiting(r.Context(), ep)
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) statusSync(w http.ResponseWriter, r *http.Request, ep string) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	wait, err := parseWait(r, defaultRunsyncWait)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	job, err := h.cfg.Engine.Wait(ctx, ep, id)
	if err != nil {
		h.engineError(w, r, "job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	writeJSON(w, http.StatusOK, ViewOf(job))
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request, ep string) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	if strings.Contains(r.Header.Get("Accept"), contentTypeEventStream) {
		h.streamSSE(w, r, ep, id)
		return
	}
	wait := defaultStreamWait
	if r.URL.Query().Get("wait") != "" {
		var err error
		if wait, err = parseWait(r, defaultStreamWait); err != nil {
			writeRequestError(w, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	job, chunks, err := h.cfg.Engine.ReadStream(ctx, ep, id)
	if err != nil {
		h.engineError(w, r, "stream of job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	writeJSON(w, http.StatusOK, streamViewOf(job, chunks))
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, ep string) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	job, err := h.cfg.Engine.Cancel(r.Context(), ep, id)
	if err != nil {
		h.transitionError(w, r, ep, id, "cancel", "only IN_QUEUE and IN_PROGRESS jobs can be cancelled", err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Submitted{ID: job.ID, Status: job.Status})
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request, ep string) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	job, err := h.cfg.Engine.Retry(r.Context(), ep, id)
	if err != nil {
		h.transitionError(w, r, ep, id, "retry", "only FAILED and TIMED_OUT jobs can be retried", err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Submitted{ID: job.ID, Status: job.Status})
}

// transitionError answers a failed cancel or retry; a conflict names the
// job's current state.
func (h *Handler) transitionError(w http.ResponseWriter, r *http.Request, ep, id, verb, rule string, err error) {
	if isConflict(err) {
		msg := "cannot " + verb + " job " + id + ": " + rule
		if job, gerr := h.cfg.Engine.Get(r.Context(), ep, id); gerr == nil {
			msg = "cannot " + verb + " job " + id + ": it is " + string(job.Status) + "; " + rule
		}
		writeError(w, http.StatusConflict, msg)
		return
	}
	h.engineError(w, r, verb+" job "+id, err, jobArgs(ep, id, "")...)
}

func (h *Handler) purge(w http.ResponseWriter, r *http.Request, ep string) {
	n, err := h.cfg.Engine.Purge(r.Context(), ep)
	if err != nil {
		h.engineError(w, r, "purge queue of "+ep, err, slog.String(attrEndpoint, ep))
		return
	}
	writeJSON(w, http.StatusOK, wire.Purge{Removed: n, Status: "completed"})
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request, ep string) {
	hl, err := h.cfg.Engine.Health(r.Context(), ep)
	if err != nil {
		h.engineError(w, r, "health of "+ep, err, slog.String(attrEndpoint, ep))
		return
	}
	writeJSON(w, http.StatusOK, hl)
}
