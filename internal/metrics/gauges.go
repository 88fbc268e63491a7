package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/engine"
)

var (
	descQueued = prometheus.NewDesc(JobsQueued,
		"Jobs waiting in the endpoint's queue (normal and low priority), read from the shared engine: the same on every replica.",
		[]string{labelEndpoint}, nil)
	descInProgress = prometheus.NewDesc(JobsInProgress,
		"Jobs held by workers, read from the shared engine: the same on every replica.",
		[]string{labelEndpoint}, nil)
	descWorkers = prometheus.NewDesc(Workers,
		"Workers by state (initializing, idle, running, throttled, unhealthy).",
		[]string{labelEndpoint, labelState}, nil)
)

// workerStates are the values of sluice_workers' state label, in order.
var workerStates = []string{"initializing", "idle", "running", "throttled", "unhealthy"}

func stateCounts(c engine.WorkerCounts) []int {
	return []int{c.Initializing, c.Idle, c.Running, c.Throttled, c.Unhealthy}
}

// gauges reads the queue and worker gauges at scrape time, reusing figures
// younger than the cache TTL so that frequent scrapes (or several
// Prometheus servers) do not load the engine.
type gauges struct {
	src Sources

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

func newGauges(src Sources) *gauges {
	if src.CacheTTL <= 0 {
		src.CacheTTL = DefaultCacheTTL
	}
	if src.Timeout <= 0 {
		src.Timeout = 5 * time.Second
	}
	return &gauges{src: src}
}

// Describe implements prometheus.Collector.
func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueued
	ch <- descInProgress
	ch <- descWorkers
}

// Collect implements prometheus.Collector.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	for _, m := range g.snapshot() {
		ch <- m
	}
}

// snapshot returns the cached figures, reading them again when stale.
// Concurrent scrapes wait for one read.
func (g *gauges) snapshot() []prometheus.Metric {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.metrics != nil && time.Since(g.at) < g.src.CacheTTL {
		return g.metrics
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.src.Timeout)
	defer cancel()
	g.metrics, g.at = g.read(ctx), time.Now()
	return g.metrics
}

// read collects every endpoint's gauges. An endpoint whose figures cannot
// be read gets an invalid metric (logged by the handler), not a zero.
func (g *gauges) read(ctx context.Context) []prometheus.Metric {
	if g.src.Endpoints == nil {
		return []prometheus.Metric{}
	}
	var out []prometheus.Metric
	for _, ep := range g.src.Endpoints() {
		if g.src.Queue != nil {
			qs, err := g.src.Queue(ctx, ep)
			if err != nil {
				out = append(out, prometheus.NewInvalidMetric(descQueued, fmt.Errorf("queue figures of %s: %w", ep, err)))
			} else {
				out = append(out,
					prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(qs.Queued+qs.QueuedLow), ep),
					prometheus.MustNewConstMetric(descInProgress, prometheus.GaugeValue, float64(qs.InProgress), ep))
			}
		}
		if g.src.Workers != nil {
			wc, err := g.src.Workers(ctx, ep)
			if err != nil {
				out = append(out, prometheus.NewInvalidMetric(descWorkers, fmt.Errorf("workers of %s: %w", ep, err)))
				continue
			}
			for i, n := range stateCounts(wc) {
				out = append(out, prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(n), ep, workerStates[i]))
			}
		}
	}
	if out == nil {
		out = []prometheus.Metric{}
	}
	return out
}
