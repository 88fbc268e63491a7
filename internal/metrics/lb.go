package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/lbproxy"
)

// Names of the load-balancing endpoints' metrics.
const (
	LBRequests       = "sluice_lb_requests_total"
	LBRequestSeconds = "sluice_lb_request_duration_seconds"
	LBInFlight       = "sluice_lb_requests_in_flight"
)

// codeAborted labels a request answered with nothing: the client went away
// or the stream broke after the headers.
const codeAborted = "aborted"

// lbMetrics are the metrics of proxied requests, per endpoint.
type lbMetrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newLBMetrics(reg prometheus.Registerer) lbMetrics {
	m := lbMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: LBRequests,
			Help: "Requests to load-balancing endpoints (/lb/...) by status code (aborted: no answer)."}, []string{labelEndpoint, labelCode}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: LBRequestSeconds,
			Help:    "Duration of requests to load-balancing endpoints, cold start waits and streams included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 330}}, []string{labelEndpoint}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: LBInFlight,
			Help: "Requests to load-balancing endpoints being served or waiting for a worker."}, []string{labelEndpoint}),
	}
	reg.MustRegister(m.requests, m.seconds, m.inFlight)
	return m
}

var _ lbproxy.Observer = (*Metrics)(nil)

// LBEndpoint implements lbproxy.Observer with the endpoint's series looked
// up once, so a request costs no label lookup but its status code's.
func (m *Metrics) LBEndpoint(endpoint string) lbproxy.EndpointObserver {
	return &lbEndpoint{
		m: &m.lb, endpoint: endpoint,
		seconds:  m.lb.seconds.WithLabelValues(endpoint),
		inFlight: m.lb.inFlight.WithLabelValues(endpoint),
	}
}

type lbEndpoint struct {
	m        *lbMetrics
	endpoint string
	seconds  prometheus.Observer
	inFlight prometheus.Gauge
	codes    sync.Map // int -> prometheus.Counter
}

func (e *lbEndpoint) Started() { e.inFlight.Inc() }

func (e *lbEndpoint) Done(code int, d time.Duration) {
	e.inFlight.Dec()
	e.seconds.Observe(d.Seconds())
	c, ok := e.codes.Load(code)
	if !ok {
		label := codeAborted
		if code != 0 {
			label = strconv.Itoa(code)
		}
		c, _ = e.codes.LoadOrStore(code, e.m.requests.WithLabelValues(e.endpoint, label))
	}
	c.(prometheus.Counter).Inc()
}
