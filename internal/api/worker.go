package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
)

// workerIDs reads the {worker} (and, with job, the {job}) path values and
// the query, tolerating parameters appended to the path with a bare "&".
func workerIDs(w http.ResponseWriter, r *http.Request, withJob bool) (worker, job string, q url.Values, ok bool) {
	worker, extra, err := pathID(r, "worker")
	if err != nil {
		writeRequestError(w, err)
		return "", "", nil, false
	}
	q = query(r, extra)
	if withJob {
		var jextra url.Values
		if job, jextra, err = pathID(r, "job"); err != nil {
			writeRequestError(w, err)
			return "", "", nil, false
		}
		for k, vs := range jextra {
			q[k] = append(q[k], vs...)
		}
	}
	return worker, job, q, true
}

// takenJob is one job as job-take delivers it: {"id", "input", ...}, the
// other request fields (e.g. s3Config) after them, as the client sent them.
type takenJob struct {
	ID      string
	Input   json.RawMessage
	Webhook string
	Extra   map[string]json.RawMessage
}

// MarshalJSON writes id and input first, then webhook and the extra fields
// in name order.
func (t takenJob) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	id, err := json.Marshal(t.ID)
	if err != nil {
		return nil, err
	}
	b.WriteString(`{"id":`)
	b.Write(id)
	b.WriteString(`,"input":`)
	if isNull(t.Input) {
		b.WriteString("null")
	} else {
		b.Write(t.Input)
	}
	extra := maps.Clone(t.Extra)
	if t.Webhook != "" {
		if extra == nil {
			extra = map[string]json.RawMessage{}
		}
		extra["webhook"], _ = json.Marshal(t.Webhook)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if k == "id" || k == "input" || len(extra[k]) == 0 {
			continue
		}
		key, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(key)
		b.WriteByte(':')
		b.Write(extra[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func takenJobOf(j *engine.Job) takenJob {
	return takenJob{ID: j.ID, Input: j.Input, Webhook: j.Webhook, Extra: j.Extra}
}

func (h *Handler) jobTake(w http.ResponseWriter, r *http.Request, ep string) {
	worker, _, _, ok := workerIDs(w, r, false)
	if !ok {
		return
	}
	jobs, ok := h.take(w, r, ep, worker, 1)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, takenJobOf(jobs[0]))
}

func (h *Handler) jobTakeBatch(w http.ResponseWriter, r *http.Request, ep string) {
	worker, _, q, ok := workerIDs(w, r, false)
	if !ok {
		return
	}
	n := 1
	if v := q.Get("batch_size"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			writeError(w, http.StatusBadRequest, "batch_size must be a whole number, got "+quoteID(v))
			return
		}
		n = min(max(n, 1), maxBatchSize)
	}
	jobs, ok := h.take(w, r, ep, worker, n)
	if !ok {
		return
	}
	out := make([]takenJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, takenJobOf(j))
	}
	writeJSON(w, http.StatusOK, out)
}

// take long-polls the engine for up to n jobs. It answers 204 itself when
// none came within the hold, and reports whether jobs were taken.
func (h *Handler) take(w http.ResponseWriter, r *http.Request, ep, worker string, n int) ([]*engine.Job, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.TakeHold)
	defer cancel()
	jobs, err := h.cfg.Engine.Take(ctx, ep, worker, n)
	if err != nil && (!errors.Is(err, context.DeadlineExceeded) || r.Context().Err() != nil) {
		h.engineError(w, r, "take job", err, slog.String(attrEndpoint, ep), slog.String(attrWorker, worker))
		return nil, false
	}
	if len(jobs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil, false
	}
	if r.Context().Err() != nil {
		// The worker's request ended as the jobs were taken: nobody would
		// get them, so they go back to the queue at once.
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		if err := h.cfg.Engine.Release(context.WithoutCancel(r.Context()), ep, worker, ids); err != nil {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "release jobs of a gone job-take", jobAttrs(ep, strings.Join(ids, ","), worker, err)...)
		}
		return nil, false
	}
	for _, j := range jobs {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "job taken", jobAttrs(ep, j.ID, worker, nil)...)
	}
	return jobs, true
}

func (h *Handler) jobDone(w http.ResponseWriter, r *http.Request, ep string) {
	worker, job, q, ok := workerIDs(w, r, true)
	if !ok {
		return
	}
	body, err := readBody(w, r, h.cfg.ResultBodyLimit)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) && re.code == http.StatusRequestEntityTooLarge {
			// Fail the job explicitly rather than leave the client a silent
			// success or a job stuck until its timeout.
			msg, _ := json.Marshal("result exceeds the " + sizeString(h.cfg.ResultBodyLimit) + " job-done limit; return large outputs by URL")
			if ferr := h.cfg.Engine.Finish(r.Context(), ep, worker, job, engine.Result{Error: msg}); ferr != nil {
				h.log.LogAttrs(r.Context(), slog.LevelWarn, "fail oversize result", jobAttrs(ep, job, worker, ferr)...)
			}
		}
		writeRequestError(w, err)
		return
	}
	d, err := DecodeDone(body, q.Get("isStream") == "true")
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if d.Progress {
		err = h.cfg.Engine.Progress(r.Context(), ep, worker, job, d.Result.Output)
	} else {
		err = h.cfg.Engine.Finish(r.Context(), ep, worker, job, d.Result)
	}
	if err != nil {
		h.engineError(w, r, "job-done for job "+job, err, jobArgs(ep, job, worker)...)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *Handler) jobStream(w http.ResponseWriter, r *http.Request, ep string) {
	worker, job, _, ok := workerIDs(w, r, true)
	if !ok {
		return
	}
	body, err := readBody(w, r, h.cfg.ChunkBodyLimit)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	out, err := DecodeChunk(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := h.cfg.Engine.AppendStream(r.Context(), ep, worker, job, out); err != nil {
		h.engineError(w, r, "job-stream for job "+job, err, jobArgs(ep, job, worker)...)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// stopView is the job-stop answer.
type stopView struct {
	JobsToStop []string `json:"jobsToStop"`
}

func (h *Handler) jobStop(w http.ResponseWriter, r *http.Request, ep string) {
	worker, _, _, ok := workerIDs(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.StopHold)
	defer cancel()
	ids, err := h.cfg.Engine.StopSignals(ctx, ep, worker)
	if err != nil && (!errors.Is(err, context.DeadlineExceeded) || r.Context().Err() != nil) {
		h.engineError(w, r, "job-stop", err, slog.String(attrEndpoint, ep), slog.String(attrWorker, worker))
		return
	}
	if len(ids) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, stopView{JobsToStop: ids})
}

func (h *Handler) ping(w http.ResponseWriter, r *http.Request, ep string) {
	worker, _, q, ok := workerIDs(w, r, false)
	if !ok {
		return
	}
	var ids []string
	for _, v := range q["job_id"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); validID(id) {
				ids = append(ids, id)
			}
		}
	}
	if q.Get("status") == "unhealthy" {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "worker reports a failed fitness check",
			slog.String(attrEndpoint, ep), slog.String(attrWorker, worker),
			slog.String(attrCheck, truncate(q.Get("check"), 200)), slog.String(attrReason, truncate(q.Get("reason"), 300)))
	}
	if err := h.cfg.Engine.Ping(r.Context(), ep, worker, ids); err != nil {
		h.engineError(w, r, "ping", err, slog.String(attrEndpoint, ep), slog.String(attrWorker, worker))
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
