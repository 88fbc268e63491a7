package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/engine"
)

// retryFull is Retry-After (seconds) when a queue or the store is full.
const retryFull = "5"

// errorBody is every error response: {"error": "<actionable message>"}.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v with status code. Encoding errors are impossible for
// the types used here except on a broken connection, which nothing can fix.
// HTML escaping is off: outputs reach clients as the worker wrote them.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"` + errInternalMessage + `"}` + "\n")
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes {"error": msg} with code.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// engineError answers an engine error: its sentinel picks the status code
// and a message for the client; anything else is logged and answered 500
// (or 503 while the engine closes) without its cause.
func (h *Handler) engineError(w http.ResponseWriter, r *http.Request, what string, err error, attrs ...any) {
	switch {
	case errors.Is(err, ErrEndpointRemoved):
		writeError(w, http.StatusNotFound, what+": "+ErrEndpointRemoved.Error())
	case errors.Is(err, engine.ErrNotFound):
		writeError(w, http.StatusNotFound, what+": not found (unknown id, or the result expired after its retention time)")
	case errors.Is(err, engine.ErrInvalid):
		writeError(w, http.StatusBadRequest, what+": "+err.Error())
	case errors.Is(err, engine.ErrIdempotencyMismatch):
		writeError(w, http.StatusUnprocessableEntity, what+": "+err.Error()+"; send a new "+headerIdempotencyKey+" for a different request")
	case errors.Is(err, engine.ErrConflict):
		writeError(w, http.StatusConflict, what+": not allowed in the job's current state")
	case errors.Is(err, engine.ErrNotOwner):
		writeError(w, http.StatusConflict, what+": this worker does not hold the job (it was requeued, finished, cancelled or timed out); the result is ignored")
	case errors.Is(err, engine.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, what+": payload too large")
	case errors.Is(err, engine.ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, errUnavailableMessage)
	case errors.Is(err, engine.ErrQueueFull):
		// The message names the endpoint's maxQueue.
		w.Header().Set("Retry-After", retryFull)
		writeError(w, http.StatusTooManyRequests, what+": "+err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "request abandoned by client", slog.String(attrRoute, r.URL.Path))
	case engine.StorageFull(err):
		w.Header().Set("Retry-After", retryFull)
		writeError(w, http.StatusServiceUnavailable, what+": "+errStorageFullMessage)
	case engine.Unavailable(err) && r.Context().Err() == nil:
		h.log.WarnContext(r.Context(), what, slog.String(attrRoute, r.URL.Path), slog.Any(attrErr, err))
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, what+": "+errStoreDownMessage)
	default:
		args := append([]any{slog.String(attrRoute, r.URL.Path), slog.Any(attrErr, err)}, attrs...)
		h.log.ErrorContext(r.Context(), what, args...)
		writeError(w, http.StatusInternalServerError, errInternalMessage)
	}
}

// jobAttrs are the attributes of a job-related log line (workerID is ""
// when no worker is involved), with err when it is not nil.
func jobAttrs(endpoint, jobID, workerID string, err error) []slog.Attr {
	a := []slog.Attr{slog.String(attrEndpoint, endpoint), slog.String(attrJob, jobID), slog.String(attrWorker, workerID)}
	if err != nil {
		a = append(a, slog.Any(attrErr, err))
	}
	return a
}

// jobArgs is jobAttrs for the ...any of engineError and slog's methods.
func jobArgs(endpoint, jobID, workerID string) []any {
	return []any{slog.String(attrEndpoint, endpoint), slog.String(attrJob, jobID), slog.String(attrWorker, workerID)}
}

// requestError is a client mistake found while decoding a request: its
// message goes to the client as is, with its code.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// writeRequestError answers err from a decoder: a *requestError as itself,
// anything else as 400 with err's text (decoders only return client mistakes).
func writeRequestError(w http.ResponseWriter, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeError(w, re.code, re.msg)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

func isConflict(err error) bool { return errors.Is(err, engine.ErrConflict) }
