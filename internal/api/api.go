// Package api serves Runpod's queue-based /v2 surface over Sluice's job
// engine: the client API (run, runsync, status, stream, cancel, retry,
// purge-queue, health) and the worker API that runpod-python and the Go
// serverless SDK call (job-take, job-take-batch, job-done, job-stream,
// job-stop, ping).
//
// Client API (Authorization: Bearer <key>, or the bare key):
//
//	POST     /v2/{endpoint}/run                 {"input", "webhook"|"webhookV2", "policy", ...} ≤ 10 MiB
//	POST     /v2/{endpoint}/runsync?wait=ms     same, ≤ 20 MiB; holds up to wait (1000-300000, default 90000)
//	GET|POST /v2/{endpoint}/status/{id}         while IN_PROGRESS, output is the latest progress update
//	GET|POST /v2/{endpoint}/status-sync/{id}?wait=ms
//	GET|POST /v2/{endpoint}/stream/{id}?wait=ms chunks since the last read; SSE with Accept: text/event-stream
//	POST     /v2/{endpoint}/cancel/{id}
//	POST     /v2/{endpoint}/retry/{id}
//	POST     /v2/{endpoint}/purge-queue
//	GET      /v2/{endpoint}/health
//	GET      /v2/endpoints, /v2/{endpoint}/workers, /v2/{endpoint}/logs   (Sluice extensions)
//	GET      /v2/{endpoint}/jobs, /jobs/{id}, /jobs/{id}/input           (Sluice extensions, jobs.go)
//	POST     /v2/admin/reload                   re-read the config file (a key opening every endpoint)
//	GET      /metrics                           Prometheus metrics (a key opening every endpoint)
//
// Worker API (Authorization: the endpoint's worker key, raw):
//
//	GET  /v2/{endpoint}/job-take/{worker}        long poll; {"id","input",...} or 204
//	GET  /v2/{endpoint}/job-take-batch/{worker}  ?batch_size=n; [{"id","input",...}] or 204
//	POST /v2/{endpoint}/job-done/{worker}/{job}  final result, or {"status":"IN_PROGRESS","output"} progress
//	POST /v2/{endpoint}/job-stream/{worker}/{job} {"output": chunk}
//	GET  /v2/{endpoint}/job-stop/{worker}        long poll; {"jobsToStop": [...]} or 204
//	GET  /v2/{endpoint}/ping/{worker}            ?job_id=a,b&runpod_version=v
//
// Handlers only decode, authorize and translate: every job state change is a
// call into the engine. Bad input gets a 4xx with a JSON body
// {"error": "..."}; internal causes are logged, never sent to clients.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
	"github.com/sluicehq/sluice/internal/wire"
)

// Engine is what the handlers need from the job engine. *engine.Engine
// implements it.
type Engine interface {
	Endpoint(id string) (engine.EndpointSettings, bool)
	Submit(ctx context.Context, endpoint string, req engine.SubmitRequest) (*engine.Job, error)
	Get(ctx context.Context, endpoint, id string) (*engine.Job, error)
	Wait(ctx context.Context, endpoint, id string) (*engine.Job, error)
	ReadStream(ctx context.Context, endpoint, id string) (*engine.Job, []json.RawMessage, error)
	Cancel(ctx context.Context, endpoint, id string) (*engine.Job, error)
	Retry(ctx context.Context, endpoint, id string) (*engine.Job, error)
	Purge(ctx context.Context, endpoint string) (int, error)
	Health(ctx context.Context, endpoint string) (engine.Health, error)
	Take(ctx context.Context, endpoint, workerID string, n int) ([]*engine.Job, error)
	Release(ctx context.Context, endpoint, workerID string, jobIDs []string) error
	Finish(ctx context.Context, endpoint, workerID, jobID string, r engine.Result) error
	Progress(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error
	AppendStream(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error
	Ping(ctx context.Context, endpoint, workerID string, jobIDs []string) error
	StopSignals(ctx context.Context, endpoint, workerID string) ([]string, error)
}

// Waiter is implemented by an Engine that can tell why an endpoint's
// queued jobs wait; /status then shows it on IN_QUEUE jobs. Waiting returns
// nil when it cannot tell.
type Waiter interface {
	Waiting(ctx context.Context, endpoint string) *wire.Waiting
}

// Payload limits, as Runpod documents them (MB read as MiB, the generous reading).
const (
	DefaultRunBodyLimit     = 10 << 20          // POST /run
	DefaultRunsyncBodyLimit = 20 << 20          // POST /runsync
	DefaultResultBodyLimit  = 20<<20 + 64<<10   // POST job-done: a 20 MB result plus its envelope
	DefaultChunkBodyLimit   = 1<<20 + 16<<10    // POST job-stream: a 1 MB chunk plus its envelope
	smallBodyLimit          = 64 << 10          // bodies of cancel, retry, status, ... (ignored)
	defaultRunsyncWait      = 90 * time.Second  // /runsync without ?wait=
	minWait                 = time.Second       // ?wait= lower clamp
	maxWait                 = 300 * time.Second // ?wait= upper clamp
	defaultStreamWait       = time.Second       // /stream without ?wait=: hold at most this for a chunk
	maxBatchSize            = 256               // job-take-batch batch_size upper clamp
	maxIDLength             = 256               // worker and job ids
	sseKeepAlive            = 15 * time.Second  // SSE comment interval while nothing happens
	defaultTakeHold         = 30 * time.Second  // job-take long poll
	defaultStopHold         = 30 * time.Second  // job-stop long poll
	errInternalMessage      = "internal error; the server log has the details"
	errUnavailableMessage   = "the job engine is shutting down; retry shortly"
	errStorageFullMessage   = "the job store is full (the server's maxStorage limit); retry later"
	errStoreDownMessage     = "the job store is not available right now (NATS node or cluster down, or a leader election); retry shortly"
	headerRequestID         = "X-Request-Id"
	attrEndpoint            = logkey.Endpoint
	attrJob                 = logkey.JobID
	attrWorker              = logkey.WorkerID
	attrRoute               = "route"
	attrErr                 = logkey.Err
	attrStatus              = "status"
	attrCheck               = "check"
	attrReason              = "reason"
	contentTypeJSON         = "application/json"
	contentTypeEventStream  = "text/event-stream"
)

// Config configures New. Only Engine is required.
type Config struct {
	// Engine runs the jobs. Required.
	Engine Engine
	// Keys are the client and worker keys. The zero value accepts any client
	// request and refuses every worker request. SetKeys replaces them.
	Keys Keys
	// RunBodyLimit caps POST /run bodies. Defaults to DefaultRunBodyLimit (10 MiB).
	RunBodyLimit int64
	// RunsyncBodyLimit caps POST /runsync bodies. Defaults to DefaultRunsyncBodyLimit (20 MiB).
	RunsyncBodyLimit int64
	// ResultBodyLimit caps job-done bodies. Defaults to DefaultResultBodyLimit.
	ResultBodyLimit int64
	// ChunkBodyLimit caps job-stream bodies. Defaults to DefaultChunkBodyLimit.
	ChunkBodyLimit int64
	// TakeHold is how long job-take and job-take-batch hold a request when no
	// job waits (then 204). Defaults to 30 s; runpod-python gives up at 90 s.
	TakeHold time.Duration
	// StopHold is how long job-stop holds a request when no stop is pending
	// (then 204). Defaults to 30 s.
	StopHold time.Duration
	// WebhookCheck, when set, checks a submitted webhook URL (e.g. a
	// netguard.Guard's CheckURL): an error is answered 400 with its text.
	// Default: none, every absolute http(s) URL is accepted.
	WebhookCheck func(ctx context.Context, url string) error
	// Limiter, when set, limits client routes (never worker routes): over a
	// limit the answer is 429 with Retry-After. Default: no limit.
	Limiter Limiter
	// Extensions are Sluice's additions (endpoints, workers, logs). The zero
	// value serves them as 404.
	Extensions Extensions
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler serves the client and worker APIs. Create it with New.
type Handler struct {
	cfg  Config
	keys atomic.Pointer[Keys] // cfg.Keys, then SetKeys's
	log  *slog.Logger
	mux  *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns the /v2 handler for cfg.
func New(cfg Config) *Handler {
	if cfg.RunBodyLimit <= 0 {
		cfg.RunBodyLimit = DefaultRunBodyLimit
	}
	if cfg.RunsyncBodyLimit <= 0 {
		cfg.RunsyncBodyLimit = DefaultRunsyncBodyLimit
	}
	if cfg.ResultBodyLimit <= 0 {
		cfg.ResultBodyLimit = DefaultResultBodyLimit
	}
	if cfg.ChunkBodyLimit <= 0 {
		cfg.ChunkBodyLimit = DefaultChunkBodyLimit
	}
	if cfg.TakeHold <= 0 {
		cfg.TakeHold = defaultTakeHold
	}
	if cfg.StopHold <= 0 {
		cfg.StopHold = defaultStopHold
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	h.SetKeys(cfg.Keys)
	if h.log == nil {
		h.log = slog.Default()
	}
	h.routes()
	return h
}

// SetKeys replaces the keys the handlers accept (a config reload). Requests
// already past their key check go on; every later one sees k. k must not
// be modified afterwards.
func (h *Handler) SetKeys(k Keys) {
	h.keys.Store(&k)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !screen(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// route is one path with its handlers per method. Paths are registered
// without a method so that a wrong method gets a JSON 405, not ServeMux's text.
type route map[string]http.HandlerFunc

func (h *Handler) routes() {
	client := func(route string, f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return h.clientAuth(route, f)
	}
	worker := func(f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return h.workerAuth(false, f)
	}
	take := func(f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return h.workerAuth(true, f)
	}
	status := client("status", h.status)
	stream := client("stream", h.stream)
	statusSync := client("status", h.statusSync)
	h.handle("/v2/{endpoint}/run", route{http.MethodPost: client("run", h.run)})
	h.handle("/v2/{endpoint}/runsync", route{http.MethodPost: client("runsync", h.runsync)})
	h.handle("/v2/{endpoint}/status/{id}", route{http.MethodGet: status, http.MethodPost: status})
	h.handle("/v2/{endpoint}/status-sync/{id}", route{http.MethodGet: statusSync, http.MethodPost: statusSync})
	h.handle("/v2/{endpoint}/stream/{id}", route{http.MethodGet: stream, http.MethodPost: stream})
	h.handle("/v2/{endpoint}/cancel/{id}", route{http.MethodPost: client("cancel", h.cancel)})
	h.handle("/v2/{endpoint}/retry/{id}", route{http.MethodPost: client("retry", h.retry)})
	h.handle("/v2/{endpoint}/purge-queue", route{http.MethodPost: client("purge-queue", h.purge)})
	h.handle("/v2/{endpoint}/health", route{http.MethodGet: client("health", h.health)})

	h.handle("/v2/{endpoint}/job-take/{worker}", route{http.MethodGet: take(h.jobTake)})
	h.handle("/v2/{endpoint}/job-take-batch/{worker}", route{http.MethodGet: take(h.jobTakeBatch)})
	h.handle("/v2/{endpoint}/job-done/{worker}/{job}", route{http.MethodPost: worker(h.jobDone)})
	h.handle("/v2/{endpoint}/job-stream/{worker}/{job}", route{http.MethodPost: worker(h.jobStream)})
	h.handle("/v2/{endpoint}/job-stop/{worker}", route{http.MethodGet: worker(h.jobStop)})
	h.handle("/v2/{endpoint}/ping/{worker}", route{http.MethodGet: worker(h.ping)})

	h.extensionRoutes()
	h.jobRoutes()

	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path+
			"; the API lives under /v2/{endpoint}/ (run, runsync, status/{id}, stream/{id}, cancel/{id}, retry/{id}, purge-queue, health)")
	})
}

func (h *Handler) handle(pattern string, rt route) {
	allow := strings.Join(slices.Sorted(maps.Keys(rt)), ", ")
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if f, ok := rt[r.Method]; ok {
			f(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
	})
}
