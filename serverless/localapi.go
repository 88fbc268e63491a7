package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// Limits and defaults of the local API server, after Runpod's (runpod-api.md 2.2-2.8).
const (
	maxRunBody         = 10 << 20 // /run body
	maxRunsyncBody     = 20 << 20 // /runsync body
	defaultRunsyncWait = 90 * time.Second
	minRunsyncWait     = time.Second
	maxRunsyncWait     = 300 * time.Second
	minExecTimeout     = 5 * time.Second
	maxExecTimeout     = 7 * 24 * time.Hour
	localMaxQueue      = 10000
	localEndpointID    = "local"
)

// localAPI is the --rp_serve_api server: an in-process endpoint with
// Runpod's /v2 job API, running jobs through the production execution path (execJob).
type localAPI struct {
	cfg         *Config
	log         *slog.Logger
	concurrency int
	// retention and syncRetention are how long finished /run and /runsync
	// jobs stay readable (Runpod: 30 min and 1 min).
	retention, syncRetention time.Duration
	// webhookTries, webhookBackoff and webhookTimeout shape webhook delivery
	// (Runpod: 3 tries, 10 s apart).
	webhookTries   int
	webhookBackoff time.Duration
	webhookTimeout time.Duration
	client         *http.Client
	// sweepEvery bounds how often submissions scan for expired jobs.
	sweepEvery time.Duration

	// lifetime ends when the server shuts down; running jobs and webhook
	// deliveries are cancelled then.
	lifetime context.Context
	wg       sync.WaitGroup // runners and webhook deliveries

	mu        sync.Mutex
	jobs      map[string]*localJob
	queue     chan *localJob
	running   int
	lastSweep time.Time
}

func newLocalAPI(cfg *Config, log *slog.Logger, concurrency int) *localAPI {
	if concurrency < 1 {
		concurrency = 1
	}
	return &localAPI{
		cfg:            cfg,
		log:            log,
		concurrency:    concurrency,
		retention:      30 * time.Minute,
		syncRetention:  time.Minute,
		webhookTries:   3,
		webhookBackoff: 10 * time.Second,
		webhookTimeout: 10 * time.Second,
		client:         &http.Client{},
		sweepEvery:     time.Second,
		jobs:           make(map[string]*localJob),
		queue:          make(chan *localJob, localMaxQueue),
	}
}

// serveLocalAPI runs the local API server on --rp_api_host:--rp_api_port
// until ctx ends.
func serveLocalAPI(ctx context.Context, cfg *Config, log *slog.Logger, opts options) error {
	addr := net.JoinHostPort(opts.apiHost, strconv.Itoa(opts.apiPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return newLocalAPI(cfg, log, opts.apiConcurrency).serve(ctx, ln)
}

// serve answers on ln until ctx ends, then stops accepting requests,
// cancels running jobs and pending webhooks and waits for them. It closes ln.
func (a *localAPI) serve(ctx context.Context, ln net.Listener) error {
	lifetime, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.lifetime = lifetime
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	for range a.concurrency {
		a.wg.Add(1)
		go a.runner(lifetime)
	}
	base := "http://" + ln.Addr().String()
	a.log.Info(fmt.Sprintf("Local API server listening on %s (endpoint API at %s/v2/%s, %d job(s) at a time)",
		base, base, localEndpointID, a.concurrency))
	a.log.Info(fmt.Sprintf(`Try: curl -d '{"input": {}}' %s/runsync`, base))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	}
	cancel() // running jobs, /runsync waiters and webhooks end now
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = fmt.Errorf("shut down: %w", serr)
	}
	a.wg.Wait()
	a.client.CloseIdleConnections()
	a.log.Info("Local API server stopped.")
	return err
}

// routes serves every operation both at the root (/run) and under
// /v2/{endpoint_id}/ (/v2/local/run), the way runpod.Endpoint and curl
// examples address a real endpoint. Any Authorization header is accepted.
// A wrong method or an unknown path gets a JSON error.
func (a *localAPI) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(path string, byMethod map[string]http.HandlerFunc) {
		h := func(w http.ResponseWriter, r *http.Request) {
			if fn, ok := byMethod[r.Method]; ok {
				fn(w, r)
				return
			}
			allowed := make([]string, 0, len(byMethod))
			for m := range byMethod {
				allowed = append(allowed, m)
			}
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (use %s)",
				r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		}
		mux.HandleFunc(path, h)
		mux.HandleFunc("/v2/{endpoint_id}"+path, h)
	}
	post := func(h http.HandlerFunc) map[string]http.HandlerFunc { return map[string]http.HandlerFunc{"POST": h} }
	getOrPost := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{"GET": h, "POST": h}
	}
	handle("/run", post(a.handleRun))
	handle("/runsync", post(a.handleRunsync))
	handle("/status/{job_id}", getOrPost(a.handleStatus))
	handle("/status-sync/{job_id}", getOrPost(a.handleStatusSync))
	handle("/stream/{job_id}", getOrPost(a.handleStream))
	handle("/cancel/{job_id}", post(a.handleCancel))
	handle("/retry/{job_id}", post(a.handleRetry))
	handle("/purge-queue", post(a.handlePurge))
	handle("/health", map[string]http.HandlerFunc{"GET": a.handleHealth})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such operation: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// submitRequest is the body of /run and /runsync.
type submitRequest struct {
	Input     json.RawMessage `json:"input"`
	Webhook   *string         `json:"webhook"`
	WebhookV2 *string         `json:"webhookV2"`
	Policy    *struct {
		ExecutionTimeout *int64 `json:"executionTimeout"`
		LowPriority      *bool  `json:"lowPriority"`
		TTL              *int64 `json:"ttl"`
	} `json:"policy"`
	S3Config json.RawMessage `json:"s3Config"`
}

// readSubmit parses and checks a /run or /runsync body and builds the job.
// It answers the client itself and returns nil when the body is bad.
func (a *localAPI) readSubmit(w http.ResponseWriter, r *http.Request, limit int64, sync bool) *localJob {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", limit))
			return nil
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return nil
	}
	var req submitRequest
	if err := json.Unmarshal(data, &req); err != nil {
		writeError(w, http.StatusBadRequest, "request body must be a JSON object: "+err.Error())
		return nil
	}
	if len(req.Input) == 0 || bytes.Equal(req.Input, []byte("null")) {
		writeError(w, http.StatusBadRequest, `request body needs an "input" value`)
		return nil
	}
	j := &localJob{id: newJobID(sync), sync: sync, submitted: time.Now()}
	for _, hook := range []*string{req.Webhook, req.WebhookV2} {
		if hook == nil || *hook == "" || j.webhook != "" {
			continue
		}
		u, err := url.Parse(*hook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("webhook %q is not an http(s) URL", *hook))
			return nil
		}
		j.webhook = *hook
	}
	if p := req.Policy; p != nil && p.ExecutionTimeout != nil {
		d := time.Duration(*p.ExecutionTimeout) * time.Millisecond
		if d < minExecTimeout || d > maxExecTimeout {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("policy.executionTimeout must be between %d and %d ms",
				minExecTimeout.Milliseconds(), maxExecTimeout.Milliseconds()))
			return nil
		}
		j.timeout = d
	}
	jobBody := map[string]json.RawMessage{"id": mustJSON(j.id), "input": req.Input}
	if len(req.S3Config) > 0 {
		jobBody["s3Config"] = req.S3Config
	}
	raw, err := marshal(jobBody)
	if err == nil {
		j.job, err = parseJob(raw)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "build job: "+err.Error())
		return nil
	}
	return j
}

func (a *localAPI) enqueue(w http.ResponseWriter, j *localJob) bool {
	if err := a.submit(j); err != nil {
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%v (%d jobs waiting)", err, localMaxQueue))
		return false
	}
	return true
}

func (a *localAPI) handleRun(w http.ResponseWriter, r *http.Request) {
	j := a.readSubmit(w, r, maxRunBody, false)
	if j == nil || !a.enqueue(w, j) {
		return
	}
	writeJSON(w, http.StatusOK, wire.JobView{ID: j.id, Status: wire.StatusInQueue})
}

func (a *localAPI) handleRunsync(w http.ResponseWriter, r *http.Request) {
	wait, ok := waitParam(w, r, defaultRunsyncWait)
	if !ok {
		return
	}
	j := a.readSubmit(w, r, maxRunsyncBody, true)
	if j == nil || !a.enqueue(w, j) {
		return
	}
	a.waitFor(r.Context(), j, wait, func(j *localJob) bool { return j.status.Terminal() })
	a.writeStatus(w, j)
}

func (a *localAPI) handleStatus(w http.ResponseWriter, r *http.Request) {
	j := a.lookup(r.PathValue("job_id"))
	if j == nil {
		writeError(w, http.StatusNotFound, "job not found")
		return
	}
	a.writeStatus(w, j)
}

func (a *localAPI) handleStatusSync(w http.ResponseWriter, r *http.Request) {
	wait, ok := waitParam(w, r, defaultRunsyncWait)
	if !ok {
		return
	}
	j := a.lookup(r.PathValue("job_id"))
	if j == nil {
		writeError(w, http.StatusNotFound, "job not found")
		return
	}
	a.waitFor(r.Context(), j, wait, func(j *localJob) bool { return j.status.Terminal() })
	a.writeStatus(w, j)
}

func (a *localAPI) writeStatus(w http.ResponseWriter, j *localJob) {
	a.mu.Lock()
	s := j.snapshotLocked()
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, s)
}

// handleStream returns the chunks produced since the previous read, each
// once and in order. With ?wait=ms it holds the request until a chunk
// arrives, the job ends or the wait passes.
func (a *localAPI) handleStream(w http.ResponseWriter, r *http.Request) {
	wait, ok := waitParam(w, r, 0)
	if !ok {
		return
	}
	j := a.lookup(r.PathValue("job_id"))
	if j == nil {
		writeError(w, http.StatusNotFound, "job not found")
		return
	}
	if wait > 0 {
		a.waitFor(r.Context(), j, wait, func(j *localJob) bool { return len(j.pending) > 0 || j.status.Terminal() })
	}
	a.mu.Lock()
	s := j.streamSnapshotLocked()
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, s)
}

func (a *localAPI) handleCancel(w http.ResponseWriter, r *http.Request) {
	s, ok := a.cancelJob(r.PathValue("job_id"))
	if !ok {
		writeError(w, http.StatusNotFound, "job not found")
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *localAPI) handleRetry(w http.ResponseWriter, r *http.Request) {
	s, ok, err := a.retryJob(r.PathValue("job_id"))
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "job not found")
	case errors.Is(err, errQueueFull):
		writeError(w, http.StatusTooManyRequests, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, s)
	}
}

func (a *localAPI) handlePurge(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.Purge{Removed: a.purgeQueue(), Status: "completed"})
}

func (a *localAPI) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.health())
}

// waitParam reads ?wait=ms. An absent value gives def; a value outside
// 1 s to 5 min is clamped; a non-number is answered with 400.
func waitParam(w http.ResponseWriter, r *http.Request, def time.Duration) (time.Duration, bool) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return def, true
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("wait must be a whole number of milliseconds, got %q", s))
		return 0, false
	}
	return min(max(time.Duration(ms)*time.Millisecond, minRunsyncWait), maxRunsyncWait), true
}

// sendWebhook POSTs body to url, retrying a failed delivery (an error or a
// status other than 200) up to webhookTries times in all.
func (a *localAPI) sendWebhook(ctx context.Context, url string, body []byte) error {
	var last error
	for try := 1; try <= a.webhookTries; try++ {
		if try > 1 {
			t := time.NewTimer(a.webhookBackoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("deliver to %s: %w (last error: %w)", url, ctx.Err(), last)
			case <-t.C:
			}
		}
		if last = a.postWebhook(ctx, url, body); last == nil {
			return nil
		}
	}
	return fmt.Errorf("deliver to %s after %d tries: %w", url, a.webhookTries, last)
}

func (a *localAPI) postWebhook(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post: status %d", resp.StatusCode)
	}
	return nil
}
