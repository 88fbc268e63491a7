// Package metrics exports Sluice's Prometheus metrics: job, worker, webhook
// and HTTP figures, plus the Go runtime and process collectors.
//
// Counters and histograms count what this replica did (sum them over
// replicas). The gauges sluice_jobs_queued and sluice_jobs_in_progress are
// read from the shared job engine when scraped, so every replica reports
// the whole endpoint's figure (take max, not sum, over replicas).
// sluice_workers counts, for an endpoint whose workers Sluice starts, the
// worker processes this replica supervises, and otherwise the live workers
// the engine knows (the same on every replica).
//
// No label carries a job or worker id: cardinality is bounded by the
// endpoints, the fixed status and reason sets, and the HTTP routes.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/webhook"
)

// Names of the metrics and their labels.
const (
	JobsSubmitted      = "sluice_jobs_submitted_total"
	JobsFinished       = "sluice_jobs_finished_total"
	JobsQueued         = "sluice_jobs_queued"
	JobsInProgress     = "sluice_jobs_in_progress"
	JobDelay           = "sluice_job_delay_seconds"
	JobExecution       = "sluice_job_execution_seconds"
	Workers            = "sluice_workers"
	WorkerStarts       = "sluice_worker_starts_total"
	WorkerExits        = "sluice_worker_exits_total"
	WorkerColdStart    = "sluice_worker_cold_start_seconds"
	WebhookDeliveries  = "sluice_webhook_deliveries_total"
	HTTPRequests       = "sluice_http_requests_total"
	HTTPRequestSeconds = "sluice_http_request_duration_seconds"

	labelEndpoint = "endpoint"
	labelStatus   = "status"
	labelState    = "state"
	labelReason   = "reason"
	labelResult   = "result"
	labelRoute    = "route"
	labelCode     = "code"
)

// DefaultCacheTTL is how long the gauges read from the engine are reused
// between scrapes.
const DefaultCacheTTL = time.Second

// Sources are where the scrape-time gauges come from.
type Sources struct {
	// Endpoints lists the endpoint ids in force. Required for the gauges;
	// nil exports none.
	Endpoints func() []string
	// Queue returns an endpoint's queue figures from the shared engine.
	Queue func(ctx context.Context, endpoint string) (engine.QueueStats, error)
	// Workers returns an endpoint's worker counts by state.
	Workers func(ctx context.Context, endpoint string) (engine.WorkerCounts, error)
	// CacheTTL: figures younger than this are reused. Defaults to DefaultCacheTTL.
	CacheTTL time.Duration
	// Timeout bounds one collection of the gauges. Defaults to 5 s.
	Timeout time.Duration
}

// Metrics holds Sluice's collectors in their own registry. It implements
// engine.Observer and scaler.Observer. Create it with New.
type Metrics struct {
	reg          *prometheus.Registry
	log          *slog.Logger
	submitted    *prometheus.CounterVec
	finished     *prometheus.CounterVec
	delay        *prometheus.HistogramVec
	execution    *prometheus.HistogramVec
	workerStarts *prometheus.CounterVec
	workerExits  *prometheus.CounterVec
	coldStart    *prometheus.HistogramVec
	webhooks     *prometheus.CounterVec
	httpRequests *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	lb           lbMetrics // lb.go
}

var (
	_ engine.Observer = (*Metrics)(nil)
	_ scaler.Observer = (*Metrics)(nil)
)

// New registers every collector but the scrape-time gauges (WatchGauges).
// log receives scrape errors; nil means slog.Default().
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(h)
		return h
	}
	m.submitted = counter(JobsSubmitted, "Jobs accepted by /run and /runsync.", labelEndpoint)
	m.finished = counter(JobsFinished, "Jobs that reached a terminal status (COMPLETED, FAILED, CANCELLED, TIMED_OUT).", labelEndpoint, labelStatus)
	m.delay = histogram(JobDelay, "Time a job waited in the queue before a worker took it.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}, labelEndpoint)
	m.execution = histogram(JobExecution, "Time a job ran on its worker, from take to its terminal status.",
		[]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}, labelEndpoint)
	m.workerStarts = counter(WorkerStarts, "Worker processes started by this replica.", labelEndpoint)
	m.workerExits = counter(WorkerExits, "Worker processes of this replica that ended, by reason (crash, killed, drained, exited, shutdown).", labelEndpoint, labelReason)
	m.coldStart = histogram(WorkerColdStart, "Time from a worker process's start to its first job-take or ping.",
		[]float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}, labelEndpoint)
	m.webhooks = counter(WebhookDeliveries, "Webhook delivery attempts by result (delivered, retrying, failed, dropped).", labelEndpoint, labelResult)
	m.httpRequests = counter(HTTPRequests, "HTTP requests by route pattern and status code.", labelRoute, labelCode)
	m.httpSeconds = histogram(HTTPRequestSeconds, "HTTP request duration by route pattern (long polls included).",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}, labelRoute)
	m.lb = newLBMetrics(m.reg)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchGauges registers the gauges read from src when scraped
// (sluice_jobs_queued, sluice_jobs_in_progress, sluice_workers). Call it once.
func (m *Metrics) WatchGauges(src Sources) {
	m.reg.MustRegister(newGauges(src))
}

// Handler serves the metrics in the Prometheus text format. A gauge that
// cannot be read is logged and left out; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry is the registry behind Handler (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// JobSubmitted counts a job accepted on endpoint.
func (m *Metrics) JobSubmitted(endpoint string) {
	m.submitted.WithLabelValues(endpoint).Inc()
}

// JobStarted records the queue delay of a job a worker just took.
func (m *Metrics) JobStarted(j *engine.Job) {
	m.delay.WithLabelValues(j.Endpoint).Observe(j.DelayTime().Seconds())
}

// JobFinished counts a terminal transition and, for a job that ran,
// records its execution time (engine.Observer).
func (m *Metrics) JobFinished(j *engine.Job) {
	m.finished.WithLabelValues(j.Endpoint, string(j.Status)).Inc()
	if !j.StartedAt.IsZero() {
		m.execution.WithLabelValues(j.Endpoint).Observe(j.ExecutionTime().Seconds())
	}
}

// QueuedEnded counts n queued jobs ended in one step (engine.Observer).
func (m *Metrics) QueuedEnded(endpoint string, status engine.Status, n int) {
	m.finished.WithLabelValues(endpoint, string(status)).Add(float64(n))
}

// WebhookDelivered counts a webhook delivery attempt (webhook.Observer).
func (m *Metrics) WebhookDelivered(endpoint string, result webhook.Result) {
	m.webhooks.WithLabelValues(endpoint, string(result)).Inc()
}

// WorkerStarted counts a worker process start (scaler.Observer).
func (m *Metrics) WorkerStarted(endpoint string) {
	m.workerStarts.WithLabelValues(endpoint).Inc()
}

// WorkerReady records a worker's cold start (scaler.Observer).
func (m *Metrics) WorkerReady(endpoint string, coldStart time.Duration) {
	m.coldStart.WithLabelValues(endpoint).Observe(coldStart.Seconds())
}

// WorkerExited counts the end of a worker process (scaler.Observer).
func (m *Metrics) WorkerExited(endpoint string, reason scaler.ExitReason) {
	m.workerExits.WithLabelValues(endpoint, string(reason)).Inc()
}
