package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/scaler"
	"github.com/sluicehq/sluice/internal/webhook"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestObservedEvents: what the engine, the supervisor and the API report
// lands in the metrics with the documented names and labels, and nothing
// carries a job or worker id.
func TestObservedEvents(t *testing.T) {
	m := New(nil)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	job := func(id string, st engine.Status, delay, exec time.Duration) *engine.Job {
		j := &engine.Job{ID: id, Endpoint: "sd", Status: st, WorkerID: "sd-worker-1", CreatedAt: created}
		if delay > 0 {
			j.StartedAt = created.Add(delay)
			j.FinishedAt = j.StartedAt.Add(exec)
		}
		return j
	}
	for range 3 {
		m.JobSubmitted("sd")
	}
	m.JobStarted(job("a", engine.StatusInProgress, 200*time.Millisecond, 0))
	m.JobStarted(job("b", engine.StatusInProgress, 3*time.Second, 0))
	m.JobFinished(job("a", engine.StatusCompleted, 200*time.Millisecond, 1500*time.Millisecond))
	m.JobFinished(job("b", engine.StatusFailed, 3*time.Second, 40*time.Millisecond))
	m.JobFinished(job("c", engine.StatusCancelled, 0, 0)) // never ran: no execution time
	m.WebhookDelivered("sd", webhook.Retrying)
	m.WebhookDelivered("sd", webhook.Delivered)
	m.WorkerStarted("sd")
	m.WorkerReady("sd", 1200*time.Millisecond)
	m.WorkerExited("sd", scaler.ExitDrained)

	want := `
# HELP sluice_jobs_finished_total Jobs that reached a terminal status (COMPLETED, FAILED, CANCELLED, TIMED_OUT).
# TYPE sluice_jobs_finished_total counter
sluice_jobs_finished_total{endpoint="sd",status="CANCELLED"} 1
sluice_jobs_finished_total{endpoint="sd",status="COMPLETED"} 1
sluice_jobs_finished_total{endpoint="sd",status="FAILED"} 1
# HELP sluice_jobs_submitted_total Jobs accepted by /run and /runsync.
# TYPE sluice_jobs_submitted_total counter
sluice_jobs_submitted_total{endpoint="sd"} 3
# HELP sluice_webhook_deliveries_total Webhook delivery attempts by result (delivered, retrying, failed, dropped).
# TYPE sluice_webhook_deliveries_total counter
sluice_webhook_deliveries_total{endpoint="sd",result="delivered"} 1
sluice_webhook_deliveries_total{endpoint="sd",result="retrying"} 1
# HELP sluice_worker_exits_total Worker processes of this replica that ended, by reason (crash, killed, drained, exited, shutdown).
# TYPE sluice_worker_exits_total counter
sluice_worker_exits_total{endpoint="sd",reason="drained"} 1
# HELP sluice_worker_starts_total Worker processes started by this replica.
# TYPE sluice_worker_starts_total counter
sluice_worker_starts_total{endpoint="sd"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		JobsFinished, JobsSubmitted, WebhookDeliveries, WorkerExits, WorkerStarts); err != nil {
		t.Fatal(err)
	}
	checkHistogram(t, m, JobDelay, 2, 3.2)
	checkHistogram(t, m, JobExecution, 2, 1.54)
	checkHistogram(t, m, WorkerColdStart, 1, 1.2)
}

// checkHistogram checks the count and sum of the endpoint "sd" series of name.
func checkHistogram(t *testing.T, m *Metrics, name string, count uint64, sum float64) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.Metric) != 1 {
			t.Fatalf("%s has %d series, want 1", name, len(mf.Metric))
		}
		h := mf.Metric[0].GetHistogram()
		if h.GetSampleCount() != count || h.GetSampleSum() < sum-1e-9 || h.GetSampleSum() > sum+1e-9 {
			t.Fatalf("%s: count %d sum %g, want %d and %g", name, h.GetSampleCount(), h.GetSampleSum(), count, sum)
		}
		for _, l := range mf.Metric[0].Label {
			if l.GetName() != labelEndpoint || l.GetValue() != "sd" {
				t.Fatalf("%s has label %s=%s; want only endpoint=sd", name, l.GetName(), l.GetValue())
			}
		}
		return
	}
	t.Fatalf("%s not gathered", name)
}

// fakeSources counts its reads.
type fakeSources struct {
	queueReads, workerReads atomic.Int32
	queueErr                error
}

func (f *fakeSources) sources(ttl time.Duration) Sources {
	return Sources{
		Endpoints: func() []string { return []string{"a", "b"} },
		Queue: func(_ context.Context, ep string) (engine.QueueStats, error) {
			f.queueReads.Add(1)
			if ep == "b" && f.queueErr != nil {
				return engine.QueueStats{}, f.queueErr
			}
			return engine.QueueStats{Queued: 4, QueuedLow: 1, InProgress: 2}, nil
		},
		Workers: func(_ context.Context, ep string) (engine.WorkerCounts, error) {
			f.workerReads.Add(1)
			return engine.WorkerCounts{Initializing: 1, Idle: 2, Ready: 2, Running: 3, Throttled: 4, Unhealthy: 5}, nil
		},
		CacheTTL: ttl,
	}
}

// TestGaugesReadAtScrapeTime: the queue gauges are the engine's figures
// (queued counts both priorities), workers are exported by state, and reads
// within the cache TTL are served from the cache.
func TestGaugesReadAtScrapeTime(t *testing.T) {
	f := &fakeSources{}
	m := New(nil)
	m.WatchGauges(f.sources(time.Hour))
	want := `
# HELP sluice_jobs_in_progress Jobs held by workers, read from the shared engine: the same on every replica.
# TYPE sluice_jobs_in_progress gauge
sluice_jobs_in_progress{endpoint="a"} 2
sluice_jobs_in_progress{endpoint="b"} 2
# HELP sluice_jobs_queued Jobs waiting in the endpoint's queue (normal and low priority), read from the shared engine: the same on every replica.
# TYPE sluice_jobs_queued gauge
sluice_jobs_queued{endpoint="a"} 5
sluice_jobs_queued{endpoint="b"} 5
# HELP sluice_workers Workers by state (initializing, idle, running, throttled, unhealthy).
# TYPE sluice_workers gauge
sluice_workers{endpoint="a",state="idle"} 2
sluice_workers{endpoint="a",state="initializing"} 1
sluice_workers{endpoint="a",state="running"} 3
sluice_workers{endpoint="a",state="throttled"} 4
sluice_workers{endpoint="a",state="unhealthy"} 5
sluice_workers{endpoint="b",state="idle"} 2
sluice_workers{endpoint="b",state="initializing"} 1
sluice_workers{endpoint="b",state="running"} 3
sluice_workers{endpoint="b",state="throttled"} 4
sluice_workers{endpoint="b",state="unhealthy"} 5
`
	for range 3 {
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), JobsQueued, JobsInProgress, Workers); err != nil {
			t.Fatal(err)
		}
	}
	if q, w := f.queueReads.Load(), f.workerReads.Load(); q != 2 || w != 2 {
		t.Fatalf("3 scrapes within the cache TTL read the queue %d and the workers %d times, want 2 each (one per endpoint)", q, w)
	}

	stale := &fakeSources{}
	m2 := New(nil)
	m2.WatchGauges(stale.sources(time.Nanosecond))
	for range 3 {
		if _, err := m2.Registry().Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if q := stale.queueReads.Load(); q != 6 {
		t.Fatalf("3 scrapes past the cache TTL read the queue %d times, want 6", q)
	}
}

// TestGaugeErrorKeepsTheRest: an endpoint whose queue cannot be read is
// reported as an error of the scrape (logged) and left out, not shown as 0;
// the other figures are still served.
func TestGaugeErrorKeepsTheRest(t *testing.T) {
	f := &fakeSources{queueErr: errors.New("nats: timeout")}
	m := New(nil)
	m.WatchGauges(f.sources(time.Hour))
	if _, err := m.Registry().Gather(); err == nil || !strings.Contains(err.Error(), "queue figures of b") {
		t.Fatalf("gather error %v, want the queue error of endpoint b", err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `sluice_jobs_queued{endpoint="a"} 5`) || strings.Contains(body, `sluice_jobs_queued{endpoint="b"}`) {
		t.Fatalf("scrape with endpoint b failing: %d\n%s", rec.Code, body)
	}
	if !strings.Contains(body, `sluice_workers{endpoint="b",state="idle"} 2`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("scrape lost the other figures:\n%s", body)
	}
}

// TestInstrumentLabelsByPattern: requests are labelled with the ServeMux
// pattern (never the path with its ids) and the status code written;
// flushing still works through the wrapper.
func TestInstrumentLabelsByPattern(t *testing.T) {
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/{endpoint}/status/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /v2/{endpoint}/stream/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
	})
	srv := httptest.NewServer(m.Instrument(mux))
	defer srv.Close()
	for _, p := range []string{"/v2/sd/status/1", "/v2/sd/status/2", "/v2/sd/status/missing", "/v2/sd/stream/3", "/nowhere"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	want := `
# HELP sluice_http_requests_total HTTP requests by route pattern and status code.
# TYPE sluice_http_requests_total counter
sluice_http_requests_total{code="200",route="/v2/{endpoint}/status/{id}"} 2
sluice_http_requests_total{code="200",route="GET /v2/{endpoint}/stream/{id}"} 1
sluice_http_requests_total{code="404",route="/v2/{endpoint}/status/{id}"} 1
sluice_http_requests_total{code="404",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), HTTPRequests); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.httpSeconds); n != 3 {
		t.Fatalf("duration histogram has %d series, want 3 (one per route)", n)
	}
}
