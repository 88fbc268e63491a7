package api

// Job listing (Sluice extensions; docs/spec/jobs-api.md):
//
//	GET /v2/{endpoint}/jobs?status=S[,S...]&limit=N&cursor=C   a page, newest first
//	GET /v2/{endpoint}/jobs/{id}                               the job with its attempts
//	GET /v2/{endpoint}/jobs/{id}/input                         the whole input
//
// Same client auth, per-endpoint keys and rate limits as /status.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/wire"
)

// Lister is implemented by an Engine that can list jobs; without it the
// listing routes answer 404.
type Lister interface {
	List(ctx context.Context, endpoint string, q engine.ListQuery) (*engine.ListPage, error)
	Detail(ctx context.Context, endpoint, id string) (*engine.JobDetail, error)
	Input(ctx context.Context, endpoint, id string) (json.RawMessage, error)
}

func (h *Handler) jobRoutes() {
	h.handle("/v2/{endpoint}/jobs", route{http.MethodGet: h.clientAuth("status", h.listJobs)})
	h.handle("/v2/{endpoint}/jobs/{id}", route{http.MethodGet: h.clientAuth("status", h.jobDetail)})
	h.handle("/v2/{endpoint}/jobs/{id}/input", route{http.MethodGet: h.clientAuth("status", h.jobInput)})
}

// lister returns the engine's Lister, or answers 404.
func (h *Handler) lister(w http.ResponseWriter) (Lister, bool) {
	l, ok := h.cfg.Engine.(Lister)
	if !ok {
		writeError(w, http.StatusNotFound, "job listing is not available on this server")
	}
	return l, ok
}

// validStatuses names the statuses a listing filters on, for error messages.
var validStatuses = func() string {
	var s []string
	for _, st := range engine.ListStatuses {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}()

// parseListQuery reads the query of GET /v2/{endpoint}/jobs. Errors are
// client mistakes (400).
func parseListQuery(q url.Values) (engine.ListQuery, error) {
	var lq engine.ListQuery
	for _, v := range q["status"] {
		for s := range strings.SplitSeq(v, ",") {
			st := wire.Status(strings.ToUpper(strings.TrimSpace(s)))
			if !slices.Contains(engine.ListStatuses, st) {
				return lq, badRequest("unknown status %q; use one of %s (or several, comma-separated)", s, validStatuses)
			}
			if !slices.Contains(lq.Statuses, st) {
				lq.Statuses = append(lq.Statuses, st)
			}
		}
	}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engine.MaxListLimit {
			return lq, badRequest("limit %q: must be a whole number from 1 to %d (default %d)", v, engine.MaxListLimit, engine.DefaultListLimit)
		}
		lq.Limit = n
	}
	if v := q.Get("cursor"); v != "" || q.Has("cursor") {
		c, err := engine.ParseListCursor(v)
		if err != nil {
			return lq, badRequest("bad cursor; pass the nextCursor of a previous page as it is")
		}
		lq.After = &c
	}
	return lq, nil
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, ep string) {
	l, ok := h.lister(w)
	if !ok {
		return
	}
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeRequestError(w, err)
		return
	}
	page, err := l.List(r.Context(), ep, q)
	if err != nil {
		h.engineError(w, r, "list jobs of "+ep, err, slog.String(attrEndpoint, ep))
		return
	}
	writeJSON(w, http.StatusOK, jobListOf(page))
}

func (h *Handler) jobDetail(w http.ResponseWriter, r *http.Request, ep string) {
	l, ok := h.lister(w)
	if !ok {
		return
	}
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	d, err := l.Detail(r.Context(), ep, id)
	if err != nil {
		h.engineError(w, r, "job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	writeJSON(w, http.StatusOK, jobDetailOf(d))
}

func (h *Handler) jobInput(w http.ResponseWriter, r *http.Request, ep string) {
	l, ok := h.lister(w)
	if !ok {
		return
	}
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	in, err := l.Input(r.Context(), ep, id)
	if err != nil {
		h.engineError(w, r, "job "+id, err, jobArgs(ep, id, "")...)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(in)))
	_, _ = w.Write(in)
}

// jobListOf renders a page.
func jobListOf(p *engine.ListPage) wire.JobList {
	l := wire.JobList{Jobs: make([]wire.JobSummary, 0, len(p.Jobs))}
	for _, j := range p.Jobs {
		l.Jobs = append(l.Jobs, summaryOf(j))
	}
	if p.Next != nil {
		l.NextCursor = p.Next.String()
	}
	return l
}

// summaryOf renders one job of a listing.
func summaryOf(j *engine.Job) wire.JobSummary {
	s := wire.JobSummary{ID: j.ID, Status: j.Status, SubmittedAt: wire.Millis(j.CreatedAt),
		StartedAt: wire.Millis(j.StartedAt), FinishedAt: wire.Millis(j.FinishedAt),
		WorkerID: j.WorkerID, Retries: j.Retries}
	if !j.StartedAt.IsZero() {
		d, x := j.DelayTime().Milliseconds(), j.ExecutionTime().Milliseconds()
		s.DelayTime, s.ExecutionTime = &d, &x
	}
	msg, _ := wire.ErrorText(j.Error)
	s.Error = wire.ErrorSummary(msg)
	return s
}

// jobDetailOf renders a job's detail.
func jobDetailOf(d *engine.JobDetail) wire.JobDetail {
	v := wire.JobDetail{JobSummary: summaryOf(&d.Job), Input: d.Input, InputBytes: d.InputBytes,
		InputTruncated: d.InputTruncated, StreamChunks: d.StreamChunks, Attempts: []wire.JobAttempt{}}
	if d.InputTruncated {
		v.InputPreview = validPrefix(d.InputPreview)
	}
	if d.Status == engine.StatusInProgress {
		v.Progress = d.Output
	} else {
		v.Output = d.Output
	}
	v.Error, v.Traceback = wire.ErrorText(d.Error)
	for _, a := range d.Attempts {
		v.Attempts = append(v.Attempts, wire.JobAttempt{Attempt: a.Attempt, WorkerID: a.WorkerID,
			StartedAt: wire.Millis(a.StartedAt), FinishedAt: wire.Millis(a.FinishedAt), Outcome: a.Outcome, Error: a.Error})
	}
	if wh := d.Webhook; wh != nil {
		v.Webhook = &wire.JobWebhook{URL: wh.URL, State: wh.State, Attempts: wh.Attempts, LastError: wh.LastError,
			DeliveredAt: wire.Millis(wh.DeliveredAt)}
	}
	return v
}

// validPrefix is b as a string without a character cut at its end.
func validPrefix(b []byte) string {
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
