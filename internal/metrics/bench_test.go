package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// BenchmarkPerJob is what the metrics add to one job: the counters and
// histograms of its submit, take and end, and the HTTP middleware on the
// four requests a job costs (/run, status-sync, job-take, job-done).
func BenchmarkPerJob(b *testing.B) {
	m := New(nil)
	mux := http.NewServeMux()
	noop := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	for _, p := range []string{"/v2/{endpoint}/run", "/v2/{endpoint}/status-sync/{id}", "/v2/{endpoint}/job-take/{worker}", "/v2/{endpoint}/job-done/{worker}/{job}"} {
		mux.HandleFunc(p, noop)
	}
	paths := []string{"/v2/ep/run", "/v2/ep/status-sync/j1", "/v2/ep/job-take/w1", "/v2/ep/job-done/w1/j1"}
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequest("GET", p, nil)
	}
	now := time.Now()
	j := &engine.Job{ID: "j1", Endpoint: "ep", Status: engine.StatusCompleted, CreatedAt: now, StartedAt: now.Add(time.Millisecond), FinishedAt: now.Add(2 * time.Millisecond)}
	w := httptest.NewRecorder()
	for _, instrumented := range []bool{false, true} {
		name := "bare"
		var h http.Handler = mux
		if instrumented {
			name, h = "metrics", m.Instrument(mux)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range reqs {
					h.ServeHTTP(w, r)
				}
				if instrumented {
					m.JobSubmitted(j.Endpoint)
					m.JobStarted(j)
					m.JobFinished(j)
				}
			}
		})
	}
}
