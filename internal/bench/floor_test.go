package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

// floorHarness is a floor server on loopback and a client of it.
type floorHarness struct {
	t    *testing.T
	s    *floorServer
	base string // http://addr/v2/bench
	http *http.Client
}

func startFloor(t *testing.T, hold time.Duration) *floorHarness {
	t.Helper()
	s := newFloorServer(endpoint, hold)
	addr, stop, err := serveFloor(s)
	if err != nil {
		t.Fatal(err)
	}
	h := &floorHarness{t: t, s: s, base: "http://" + addr + "/v2/" + endpoint,
		http: &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		stop()
		h.http.CloseIdleConnections()
	})
	return h
}

// call makes one request to the floor and returns the status and body.
func (h *floorHarness) call(method, path, body string) (int, string) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.base+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustCall is call that fails the test unless the status is want.
func (h *floorHarness) mustCall(want int, method, path, body string) string {
	h.t.Helper()
	code, got := h.call(method, path, body)
	if code != want {
		h.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, want, got)
	}
	return got
}

// run queues a job and returns its id.
func (h *floorHarness) run(input string) string {
	h.t.Helper()
	var v floorView
	if err := json.Unmarshal([]byte(h.mustCall(http.StatusOK, "POST", "/run", `{"input":`+input+`}`)), &v); err != nil {
		h.t.Fatal(err)
	}
	if v.Status != wire.StatusInQueue || v.ID == "" {
		h.t.Fatalf("/run answered %+v", v)
	}
	return v.ID
}

type callResult struct {
	code int
	body string
}

// TestFloorTakeWaitsForJob: a job-take parked before any job exists gets
// the job queued after it parked.
func TestFloorTakeWaitsForJob(t *testing.T) {
	h := startFloor(t, time.Minute)
	got := make(chan callResult, 1)
	go func() {
		code, body := h.call("GET", "/job-take/w1?&job_in_progress=0", "")
		got <- callResult{code, body}
	}()
	testutil.WaitFor(t, 10*time.Second, "the take to park", func() bool { return h.s.takeWaiters.Load() == 1 })
	id := h.run(`{"x":1}`)
	r := <-got
	if r.code != http.StatusOK {
		t.Fatalf("job-take: %d %s", r.code, r.body)
	}
	var job takenJob
	if err := json.Unmarshal([]byte(r.body), &job); err != nil {
		t.Fatal(err)
	}
	if job.ID != id || string(job.Input) != `{"x":1}` {
		t.Errorf("job-take gave %s, want id %s input {\"x\":1}", r.body, id)
	}
}

// TestFloorTakeHold: job-take and job-take-batch answer 204 when the hold
// passes with no job, job-stop answers 204 when its hold passes, and ping
// answers 200.
func TestFloorTakeHold(t *testing.T) {
	h := startFloor(t, 20*time.Millisecond)
	h.mustCall(http.StatusNoContent, "GET", "/job-take/w1?&job_in_progress=0", "")
	h.mustCall(http.StatusNoContent, "GET", "/job-take-batch/w1?&batch_size=4&job_in_progress=0", "")
	h.mustCall(http.StatusNoContent, "GET", "/job-stop/w1?", "")
	h.mustCall(http.StatusOK, "GET", "/ping/w1?runpod_version=x", "")
}

// TestFloorBatchTake: job-take-batch returns up to batch_size queued
// jobs in order, and a bad batch_size is a 400.
func TestFloorBatchTake(t *testing.T) {
	h := startFloor(t, time.Minute)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.run(fmt.Sprint(i)))
	}
	take := func(n int) []takenJob {
		var jobs []takenJob
		if err := json.Unmarshal([]byte(h.mustCall(http.StatusOK, "GET", fmt.Sprintf("/job-take-batch/w1?&batch_size=%d&job_in_progress=0", n), "")), &jobs); err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	first, rest := take(3), take(10)
	if len(first) != 3 || len(rest) != 2 {
		t.Fatalf("batches of %d and %d jobs, want 3 and 2", len(first), len(rest))
	}
	for i, j := range append(first, rest...) {
		if j.ID != ids[i] || string(j.Input) != fmt.Sprint(i) {
			t.Errorf("job %d is %+v, want id %s input %d", i, j, ids[i], i)
		}
	}
	for _, q := range []string{"", "&batch_size=0", "&batch_size=x"} {
		h.mustCall(http.StatusBadRequest, "GET", "/job-take-batch/w1?"+q, "")
	}
}

// TestFloorStatusSyncWakes: a status-sync parked on a taken job returns
// COMPLETED with the posted output as soon as job-done arrives; the job is
// forgotten once reported.
func TestFloorStatusSyncWakes(t *testing.T) {
	h := startFloor(t, time.Minute)
	id := h.run(`{}`)
	h.mustCall(http.StatusOK, "GET", "/job-take/w1?&job_in_progress=0", "")
	got := make(chan callResult, 1)
	go func() {
		code, body := h.call("GET", "/status-sync/"+id+"?wait=60000", "")
		got <- callResult{code, body}
	}()
	testutil.WaitFor(t, 10*time.Second, "status-sync to park", func() bool { return h.s.syncWaiters.Load() == 1 })
	h.mustCall(http.StatusOK, "POST", "/job-done/w1/"+id+"?&isStream=false", `{"output": {"started_ns": 7}}`)
	r := <-got
	want := `{"id":"` + id + `","status":"COMPLETED","output":{"started_ns":7}}`
	if r.code != http.StatusOK || r.body != want {
		t.Errorf("status-sync: %d %s, want 200 %s", r.code, r.body, want)
	}
	h.mustCall(http.StatusNotFound, "GET", "/status-sync/"+id, "")
}

// TestFloorJobDone: job-done of an unknown job is 404, of a job not taken
// or already finished 409, with a body that is not a JSON object 400; a
// progress update leaves the job in progress; a truthy error fails it.
func TestFloorJobDone(t *testing.T) {
	h := startFloor(t, time.Minute)
	h.mustCall(http.StatusNotFound, "POST", "/job-done/w1/nope?&isStream=false", `{"output":1}`)
	id := h.run(`{}`)
	h.mustCall(http.StatusConflict, "POST", "/job-done/w1/"+id+"?&isStream=false", `{"output":1}`)
	h.mustCall(http.StatusOK, "GET", "/job-take/w1?&job_in_progress=0", "")
	for _, bad := range []string{`[1]`, `nope`, `null`, ``} {
		h.mustCall(http.StatusBadRequest, "POST", "/job-done/w1/"+id+"?&isStream=false", bad)
	}
	h.mustCall(http.StatusOK, "POST", "/job-done/w1/"+id+"?&isStream=false", `{"status":"IN_PROGRESS","output":"half"}`)
	if got := h.mustCall(http.StatusOK, "GET", "/status-sync/"+id, ""); got != `{"id":"`+id+`","status":"IN_PROGRESS"}` {
		t.Errorf("after progress: %s", got)
	}
	h.mustCall(http.StatusOK, "POST", "/job-done/w1/"+id+"?&isStream=false", `{"error":"boom"}`)
	h.mustCall(http.StatusConflict, "POST", "/job-done/w1/"+id+"?&isStream=false", `{"output":1}`)
	if got := h.mustCall(http.StatusOK, "GET", "/status-sync/"+id, ""); got != `{"id":"`+id+`","status":"FAILED","error":"boom"}` {
		t.Errorf("after error: %s", got)
	}
}

// TestFloorBadInput: bad /run bodies and waits are 400, another endpoint 404.
func TestFloorBadInput(t *testing.T) {
	h := startFloor(t, time.Minute)
	for _, body := range []string{`{}`, `nope`, `[]`, ``} {
		h.mustCall(http.StatusBadRequest, "POST", "/run", body)
	}
	id := h.run(`1`)
	h.mustCall(http.StatusBadRequest, "GET", "/status-sync/"+id+"?wait=-1", "")
	h.mustCall(http.StatusBadRequest, "GET", "/status-sync/"+id+"?wait=x", "")
	other := strings.TrimSuffix(h.base, endpoint) + "other"
	resp, err := h.http.Post(other+"/run", "application/json", strings.NewReader(`{"input":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/run on another endpoint: %d, want 404", resp.StatusCode)
	}
}

// TestFloorWire records one job's exchanges, both sides, against
// testdata/floor.golden (go test -run TestFloorWire -update rewrites it).
func TestFloorWire(t *testing.T) {
	h := startFloor(t, 20*time.Millisecond)
	var tr strings.Builder
	step := func(method, path, body string) {
		code, got := h.call(method, path, body)
		fmt.Fprintf(&tr, "%s\n-> %s\n", strings.TrimSpace(method+" "+path+" "+body), strings.TrimSpace(fmt.Sprint(code, " ", got)))
	}
	step("POST", "/run", `{"input":{"prompt":"hi"}}`)
	step("POST", "/run", `{"input":2}`)
	step("GET", "/status-sync/floor-1?wait=0", "")
	step("GET", "/job-take/w1?&job_in_progress=0", "")
	step("GET", "/status-sync/floor-1", "")
	step("GET", "/job-take-batch/w1?&batch_size=4&job_in_progress=1", "")
	step("GET", "/job-take/w1?&job_in_progress=1", "")
	step("POST", "/job-done/w1/floor-1?&isStream=false", `{"output": {"started_ns": 1}}`)
	step("POST", "/job-done/w1/floor-2?&isStream=false", `{"error": "boom", "output": 3}`)
	step("POST", "/job-done/w1/floor-9?&isStream=false", `{"output": 1}`)
	step("GET", "/status-sync/floor-1?wait=1000", "")
	step("GET", "/status-sync/floor-2?wait=1000", "")
	step("GET", "/status-sync/floor-1", "")
	testutil.Golden(t, "floor", []byte(tr.String()))
}

// TestFloorWithWorkers runs real worker processes on the floor server,
// one job at a time per worker and four per worker (job-take-batch), and
// checks every job completed with the handler's output, then measures the
// floor's throughput.
func TestFloorWithWorkers(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency-%d", conc), func(t *testing.T) {
			h := startFloor(t, floorHold)
			opts := workerOptions(t)
			opts.Workers, opts.WorkerConcurrency = 2, conc
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stop, err := startWorkers(ctx, opts, floorWorkerEnv(strings.TrimPrefix(strings.TrimSuffix(h.base, "/v2/"+endpoint), "http://")))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			c := newClient(h.base, 8)
			defer c.http.CloseIdleConnections()
			const jobs = 50
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				ids  [jobs]string
			)
			t0 := time.Now().UnixNano()
			for range 8 {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < jobs; i = next.Add(1) - 1 {
						v, err := c.runAndWait(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						if v.Status != wire.StatusCompleted || v.Output.StartedNs < t0 {
							t.Errorf("job %s: status %s, started_ns %d (test began at %d)", v.ID, v.Status, v.Output.StartedNs, t0)
						}
						ids[i] = v.ID
					}
				})
			}
			wg.Wait()
			distinct := map[string]bool{}
			for _, id := range ids {
				if id != "" {
					distinct[id] = true
				}
			}
			if len(distinct) != jobs {
				t.Errorf("%d distinct jobs completed, want %d", len(distinct), jobs)
			}
			if batches := h.s.batchTakes.Load(); (conc > 1) != (batches > 0) {
				t.Errorf("concurrency %d: %d job-take-batch requests", conc, batches)
			}
		})
	}
}

// TestFloorThroughput runs the floor phase of Run: its own server and
// workers, a warm-up and the throughput phase.
func TestFloorThroughput(t *testing.T) {
	opts := workerOptions(t)
	opts.Workers, opts.Jobs, opts.Concurrency = 2, 50, 8
	if err := opts.defaults(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tput, _, err := floorThroughput(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tput <= 0 {
		t.Errorf("floor throughput %v", tput)
	}
}

// BenchmarkFloorThroughput is /run + completion against the protocol
// floor with 16 clients and 4 worker processes; ns/op is the inverse of
// throughput. Compare with BenchmarkRunThroughput.
func BenchmarkFloorThroughput(b *testing.B) {
	s := newFloorServer(endpoint, floorHold)
	addr, stopServer, err := serveFloor(s)
	if err != nil {
		b.Fatal(err)
	}
	defer stopServer()
	opts := workerOptions(b)
	opts.Workers = 4
	stop, err := startWorkers(context.Background(), opts, floorWorkerEnv(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	c := newClient("http://"+addr+"/v2/"+endpoint, 16)
	defer c.http.CloseIdleConnections()
	for range opts.Workers * 2 {
		if _, err := c.runAndWait(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	if _, err := c.throughput(context.Background(), b.N, 16); err != nil {
		b.Fatal(err)
	}
}
