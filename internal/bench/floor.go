package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/wire"
)

// The protocol floor is an in-memory server that answers exactly the HTTP
// exchanges a benchmark job makes — /run, job-take (or job-take-batch),
// job-done and status-sync, plus the job-stop and ping polls the SDK keeps
// open — with no engine, no persistence and no auth. Run measures it with
// the same worker processes and the same clients as Sluice, so the gap
// between the two is what Sluice itself costs.

// Limits of the floor server. Everything it holds is bounded.
const (
	floorHold      = 30 * time.Second      // job-take and job-stop long-poll hold, as Sluice's default
	floorMaxWait   = 5 * time.Minute       // status-sync ?wait= upper clamp
	floorMaxQueue  = 1 << 16               // jobs queued and not yet taken
	floorMaxJobs   = 1 << 18               // jobs known: queued, taken, or done and not yet reported
	floorMaxBatch  = 256                   // job-take-batch batch_size upper clamp
	floorMaxBody   = 20<<20 + 64<<10       // a job-done or /run body
	floorWorkerKey = "bench-floor-no-auth" // RUNPOD_AI_API_KEY the floor's workers send (never checked)
)

// floorServer is the protocol floor's state: a bounded FIFO of queued jobs
// and a map of every job not yet reported done.
type floorServer struct {
	endpoint string
	hold     time.Duration // job-take and job-stop long-poll hold
	queue    chan *floorJob
	seq      atomic.Uint64

	// Counters the tests watch: long polls parked now, and job-take-batch
	// requests served.
	takeWaiters, syncWaiters, batchTakes atomic.Int64

	mu   sync.Mutex
	jobs map[string]*floorJob
}

// floorJob is one job. status, output and errMsg are written once, under
// floorServer.mu, before done is closed; readers read them after <-done.
type floorJob struct {
	id     string
	input  json.RawMessage
	taken  atomic.Bool
	done   chan struct{}
	status wire.Status
	output json.RawMessage
	errMsg json.RawMessage
}

// newFloorServer returns an empty floor server for endpoint whose long
// polls hold for hold when nothing happens.
func newFloorServer(endpoint string, hold time.Duration) *floorServer {
	return &floorServer{endpoint: endpoint, hold: hold, queue: make(chan *floorJob, floorMaxQueue), jobs: map[string]*floorJob{}}
}

// handler routes the floor's exchanges.
func (s *floorServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/{endpoint}/run", s.run)
	mux.HandleFunc("GET /v2/{endpoint}/status-sync/{id}", s.statusSync)
	mux.HandleFunc("POST /v2/{endpoint}/status-sync/{id}", s.statusSync)
	mux.HandleFunc("GET /v2/{endpoint}/job-take/{worker}", s.jobTake)
	mux.HandleFunc("GET /v2/{endpoint}/job-take-batch/{worker}", s.jobTakeBatch)
	mux.HandleFunc("POST /v2/{endpoint}/job-done/{worker}/{job}", s.jobDone)
	mux.HandleFunc("GET /v2/{endpoint}/job-stop/{worker}", s.jobStop)
	mux.HandleFunc("GET /v2/{endpoint}/ping/{worker}", s.ping)
	return mux
}

// serveFloor serves s on a free loopback port. It returns the address and
// a func that stops the server: it ends every request in flight (their
// contexts are cancelled, the connections closed) and waits for the
// server to return.
func serveFloor(s *floorServer) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("bench: floor server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return ln.Addr().String(), func() {
		cancel()
		_ = srv.Close()
		<-served
	}, nil
}

// floorError writes {"error": msg} with code.
func floorError(w http.ResponseWriter, code int, msg string) {
	writeFloorJSON(w, code, map[string]string{"error": msg})
}

func writeFloorJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encode response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// checkEndpoint answers 404 for an endpoint other than the floor's.
func (s *floorServer) checkEndpoint(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("endpoint") != s.endpoint {
		floorError(w, http.StatusNotFound, "endpoint "+strconv.Quote(r.PathValue("endpoint"))+" not found")
		return false
	}
	return true
}

// readBody reads a JSON object body of at most floorMaxBody bytes into v,
// answering 400 or 413 when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, floorMaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			floorError(w, http.StatusRequestEntityTooLarge, "body exceeds "+strconv.Itoa(floorMaxBody)+" bytes")
			return false
		}
		floorError(w, http.StatusBadRequest, "read body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		floorError(w, http.StatusBadRequest, "body is not a JSON object: "+err.Error())
		return false
	}
	return true
}

// run queues a job: POST /run {"input": ...} -> {"id", "status": "IN_QUEUE"}.
func (s *floorServer) run(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	var body struct {
		Input json.RawMessage `json:"input"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if body.Input == nil {
		floorError(w, http.StatusBadRequest, `body has no "input"`)
		return
	}
	job := &floorJob{id: "floor-" + strconv.FormatUint(s.seq.Add(1), 10), input: body.Input, done: make(chan struct{})}
	s.mu.Lock()
	if len(s.jobs) >= floorMaxJobs {
		s.mu.Unlock()
		floorError(w, http.StatusTooManyRequests, "too many jobs in flight")
		return
	}
	s.jobs[job.id] = job
	s.mu.Unlock()
	select {
	case s.queue <- job:
	default:
		s.mu.Lock()
		delete(s.jobs, job.id)
		s.mu.Unlock()
		floorError(w, http.StatusTooManyRequests, "queue full")
		return
	}
	writeFloorJSON(w, http.StatusOK, floorView{ID: job.id, Status: wire.StatusInQueue})
}

// floorView is a job as /run and status-sync answer it.
type floorView struct {
	ID     string          `json:"id"`
	Status wire.Status     `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// statusSync answers a job's status, first waiting up to ?wait= ms
// (default 0, at most floorMaxWait) for it to finish. A finished job is
// reported once and then forgotten.
func (s *floorServer) statusSync(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	var wait time.Duration
	if q := r.URL.Query().Get("wait"); q != "" {
		ms, err := strconv.ParseInt(q, 10, 64)
		if err != nil || ms < 0 {
			floorError(w, http.StatusBadRequest, "wait must be a whole number of milliseconds >= 0")
			return
		}
		wait = min(time.Duration(ms)*time.Millisecond, floorMaxWait)
	}
	id := r.PathValue("id")
	s.mu.Lock()
	job := s.jobs[id]
	s.mu.Unlock()
	if job == nil {
		floorError(w, http.StatusNotFound, "job "+strconv.Quote(id)+" not found")
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	s.syncWaiters.Add(1)
	select {
	case <-job.done:
	case <-t.C:
	case <-r.Context().Done():
	}
	s.syncWaiters.Add(-1)
	if r.Context().Err() != nil {
		return
	}
	select {
	case <-job.done:
		s.mu.Lock()
		delete(s.jobs, id)
		s.mu.Unlock()
		writeFloorJSON(w, http.StatusOK, floorView{ID: id, Status: job.status, Output: job.output, Error: job.errMsg})
	default:
		status := wire.StatusInQueue
		if job.taken.Load() {
			status = wire.StatusInProgress
		}
		writeFloorJSON(w, http.StatusOK, floorView{ID: id, Status: status})
	}
}

// takenJob is a job as job-take delivers it.
type takenJob struct {
	ID    string          `json:"id"`
	Input json.RawMessage `json:"input"`
}

// take waits up to s.hold for a queued job, then also takes up to n-1
// more that are already queued. It returns none when the hold passes or
// ctx ends first. A job taken by a request whose client has gone is lost:
// the floor has no leases (a benchmark never drops a take mid-run).
func (s *floorServer) take(ctx context.Context, n int) []takenJob {
	t := time.NewTimer(s.hold)
	defer t.Stop()
	var job *floorJob
	s.takeWaiters.Add(1)
	select {
	case job = <-s.queue:
	case <-t.C:
	case <-ctx.Done():
	}
	s.takeWaiters.Add(-1)
	if job == nil {
		return nil
	}
	jobs := make([]takenJob, 0, n)
	for {
		job.taken.Store(true)
		jobs = append(jobs, takenJob{ID: job.id, Input: job.input})
		if len(jobs) == n {
			return jobs
		}
		select {
		case job = <-s.queue:
		default:
			return jobs
		}
	}
}

// jobTake long-polls for one job: {"id", "input"}, or 204.
func (s *floorServer) jobTake(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	jobs := s.take(r.Context(), 1)
	if len(jobs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeFloorJSON(w, http.StatusOK, jobs[0])
}

// jobTakeBatch long-polls for up to ?batch_size= jobs (at most
// floorMaxBatch): [{"id", "input"}, ...], or 204.
func (s *floorServer) jobTakeBatch(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("batch_size"))
	if err != nil || n < 1 {
		floorError(w, http.StatusBadRequest, "batch_size must be a whole number >= 1")
		return
	}
	s.batchTakes.Add(1)
	jobs := s.take(r.Context(), min(n, floorMaxBatch))
	if len(jobs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeFloorJSON(w, http.StatusOK, jobs)
}

// jobDone takes a job's result: a final {"output"} or {"error"} (a truthy
// error fails the job) finishes it and wakes its status-sync waiters; a
// progress update ({"status": "IN_PROGRESS"}) is accepted and dropped.
// An unknown job is 404, a job not yet taken or already finished 409.
func (s *floorServer) jobDone(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	var body map[string]json.RawMessage
	if !readBody(w, r, &body) {
		return
	}
	if body == nil {
		floorError(w, http.StatusBadRequest, "body is not a JSON object")
		return
	}
	id := r.PathValue("job")
	var status wire.Status
	progress := json.Unmarshal(body["status"], &status) == nil && status == wire.StatusInProgress
	code, msg := s.finish(id, progress, body)
	if code != http.StatusOK {
		floorError(w, code, msg)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// finish records job id's result from a job-done body (a progress update
// only checks the job) and returns the HTTP status to answer, with an
// error message unless it is 200.
func (s *floorServer) finish(id string, progress bool, body map[string]json.RawMessage) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	job := s.jobs[id]
	switch {
	case job == nil:
		return http.StatusNotFound, "job " + strconv.Quote(id) + " not found"
	case !job.taken.Load():
		return http.StatusConflict, "job " + strconv.Quote(id) + " was not taken"
	}
	select {
	case <-job.done:
		return http.StatusConflict, "job " + strconv.Quote(id) + " is already finished"
	default:
	}
	if progress {
		return http.StatusOK, ""
	}
	job.status = wire.StatusCompleted
	if e, ok := body["error"]; ok && wire.Truthy(e) {
		job.status, job.errMsg = wire.StatusFailed, e
	} else {
		job.output = body["output"]
	}
	close(job.done)
	return http.StatusOK, ""
}

// jobStop holds the poll until s.hold passes or the request ends, then
// answers 204: the floor never stops a job.
func (s *floorServer) jobStop(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	t := time.NewTimer(s.hold)
	defer t.Stop()
	select {
	case <-t.C:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

// ping answers a heartbeat with 200.
func (s *floorServer) ping(w http.ResponseWriter, r *http.Request) {
	if !s.checkEndpoint(w, r) {
		return
	}
	w.WriteHeader(http.StatusOK)
}

// floorWorkerEnv returns the RUNPOD_* environment of a worker of the floor
// server at addr: the URL templates Sluice gives its own workers.
func floorWorkerEnv(addr string) func(workerID string) ([]string, error) {
	return func(workerID string) ([]string, error) {
		return wire.WorkerEnv{BaseURL: "http://" + addr, Endpoint: endpoint, Key: floorWorkerKey,
			WorkerID: workerID, PingIntervalMs: config.DefaultPingIntervalMs}.Environ(), nil
	}
}

// floorThroughput serves the protocol floor, starts opts.Workers workers
// on it, warms up, and runs the throughput phase against it.
func floorThroughput(ctx context.Context, opts Options) (tput float64, cpu time.Duration, err error) {
	var (
		addr       string
		ch         *child
		stopServer func()
	)
	if len(opts.FloorCommand) > 0 {
		argv := func(addr string) []string { return append(slices.Clone(opts.FloorCommand), addr) }
		if ch, err = startChild(ctx, opts, "floor", argv, "/v2/"+endpoint+"/ping/warmup"); err != nil {
			return 0, 0, err
		}
		addr, stopServer = ch.addr, ch.stop
	} else if addr, stopServer, err = serveFloor(newFloorServer(endpoint, floorHold)); err != nil {
		return 0, 0, err
	}
	defer stopServer()
	floorOpts := opts
	floorOpts.WorkerProfile = nil // the profiles are of Sluice's workers
	stopWorkers, err := startWorkers(ctx, floorOpts, floorWorkerEnv(addr))
	if err != nil {
		return 0, 0, err
	}
	defer stopWorkers() // before stopServer: workers finish against a live server
	c := newClient("http://"+addr+"/v2/"+endpoint, opts.Concurrency)
	defer c.http.CloseIdleConnections()
	for range opts.Workers * 2 {
		if _, err := c.runAndWait(ctx); err != nil {
			return 0, 0, fmt.Errorf("bench: floor warm-up: %w", err)
		}
	}
	cpu0 := ch.cpuOr0()
	tput, err = c.throughput(ctx, opts.Jobs, opts.Concurrency)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: floor: %w", err)
	}
	return tput, (ch.cpuOr0() - cpu0) / time.Duration(opts.Jobs), nil
}
