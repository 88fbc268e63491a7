package scaler

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logs"
	"github.com/sluicehq/sluice/internal/testutil"
)

// hooked is the engine as sluice serve hands it to the API: submits wake
// the supervisor, stopPod refreshes the worker.
type hooked struct {
	*engine.Engine
	sup **Supervisor
}

func (h hooked) Submit(ctx context.Context, ep string, r engine.SubmitRequest) (*engine.Job, error) {
	j, err := h.Engine.Submit(ctx, ep, r)
	if err == nil {
		(*h.sup).Notify(ep)
	}
	return j, err
}

func (h hooked) Finish(ctx context.Context, ep, worker, job string, r engine.Result) error {
	err := h.Engine.Finish(ctx, ep, worker, job, r)
	if r.StopPod {
		(*h.sup).Refresh(worker)
	}
	return err
}

// stack is the real engine and worker API on loopback with a supervisor.
type stack struct {
	url string
	eng *engine.Engine
	sup *Supervisor
}

func newStack(t *testing.T, yaml string, ping time.Duration) *stack {
	t.Helper()
	f := parse(t, t.TempDir(), yaml)
	var settings []engine.EndpointSettings
	workerKeys := map[string]string{}
	for _, ep := range f.Endpoints {
		settings = append(settings, engine.EndpointSettings{ID: ep.ID})
		workerKeys[ep.ID] = ep.WorkerKey
	}
	eng, err := engine.Open(t.Context(), engine.Config{DataDir: t.TempDir(), PingInterval: ping, Endpoints: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	st := &stack{eng: eng}
	srv := httptest.NewServer(api.New(api.Config{
		Engine:   hooked{Engine: eng, sup: &st.sup},
		Keys:     api.Keys{Worker: workerKeys},
		TakeHold: time.Second,
		StopHold: time.Second, // runpod-python waits out its job-stop poll before it exits on SIGTERM
	}))
	t.Cleanup(srv.Close)
	st.url = srv.URL
	st.sup, err = New(Config{
		BaseURL: srv.URL, Queue: eng, DataDir: t.TempDir(),
		PingInterval: ping, Tick: 50 * time.Millisecond, StopGrace: 3 * time.Second,
		Env:    append(os.Environ(), "SLUICE_TEST_ENV_DIR="+t.TempDir()),
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.sup.Update(t.Context(), f.Endpoints); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- st.sup.Run(runCtx) }()
	t.Cleanup(func() { // runs before the server and engine close
		stop()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	return st
}

// run posts input to /run and returns the job id.
func (st *stack) run(t *testing.T, ep, input string) string {
	t.Helper()
	resp, err := http.Post(st.url+"/v2/"+ep+"/run", "application/json", bytes.NewReader([]byte(`{"input":`+input+`}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || out.ID == "" {
		t.Fatalf("/run: %s", resp.Status)
	}
	return out.ID
}

// status is a /status body.
type status struct {
	Status string
	Output map[string]any
}

// wait polls /status until the job completes.
func (st *stack) wait(t *testing.T, ep, id string, each func()) status {
	t.Helper()
	var s status
	testutil.WaitFor(t, 60*time.Second, "job "+id+" completed", func() bool {
		if each != nil {
			each()
		}
		resp, err := http.Get(st.url + "/v2/" + ep + "/status/" + id)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&s) == nil && s.Status == "COMPLETED"
	})
	return s
}

// TestWithRealEngine runs the supervisor against the real job engine and
// worker API: jobs sent to /run scale the endpoint up, complete, and the
// workers scale back to zero.
func TestWithRealEngine(t *testing.T) {
	st := newStack(t, `
endpoints:
  - id: it
    command: [TESTWORKERBIN]
    workersMax: 2
    idleTimeout: 1
    scalerType: REQUEST_COUNT
    scalerValue: 1
    workerKey: wk-it
`, 200*time.Millisecond)
	var ids []string
	for range 4 {
		ids = append(ids, st.run(t, "it", `{"sleep_ms":500}`))
	}
	peak := 0
	workers := map[string]bool{}
	for _, id := range ids {
		s := st.wait(t, "it", id, func() { peak = max(peak, len(st.sup.Workers("it"))) })
		workers[s.Output["worker"].(string)] = true
	}
	if peak > 2 || len(workers) == 0 {
		t.Errorf("peak %d workers, jobs ran on %d; want at most workersMax 2", peak, len(workers))
	}
	testutil.WaitFor(t, 30*time.Second, "scale to zero", func() bool { return len(st.sup.Workers("it")) == 0 })
}

// TestRunpodPythonWorker runs the example runpod-python worker (the real
// SDK, from the virtualenv scripts/test.sh installs) under the supervisor.
func TestRunpodPythonWorker(t *testing.T) {
	venv := os.Getenv("SLUICE_VENV")
	if venv == "" {
		venv, _ = filepath.Abs(filepath.Join("..", "..", ".venv"))
	}
	python := filepath.Join(venv, "bin", "python")
	if err := exec.Command(python, "-c", "import runpod").Run(); err != nil {
		t.Skipf("runpod-python is not installed in %s (%v); run scripts/test.sh to install it", venv, err)
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "python"))
	st := newStack(t, `
endpoints:
  - id: py
    command: [`+python+`, echo_worker.py]
    dir: `+dir+`
    workersMin: 1
    workersMax: 1
    workerKey: wk-py
`, time.Second)
	id := st.run(t, "py", `{"echo":"hi"}`)
	s := st.wait(t, "py", id, nil)
	if s.Output["echo"] != "hi" {
		t.Errorf("output %v", s.Output)
	}
	// runpod-python logs JSON lines with the job's requestId.
	testutil.WaitFor(t, 10*time.Second, "log lines of the job", func() bool {
		recs, err := st.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "py", Job: id})
		return err == nil && len(recs) > 0
	})
	ws := st.sup.Workers("py")
	if len(ws) != 1 {
		t.Fatalf("workers %+v", ws)
	}
	first := ws[0].ID
	// refresh_worker in the output -> stopPod -> the worker is replaced.
	st.wait(t, "py", st.run(t, "py", `{"echo":"bye","refresh":true}`), nil)
	testutil.WaitFor(t, 60*time.Second, "a new idle worker", func() bool {
		ws := st.sup.Workers("py")
		return len(ws) == 1 && ws[0].ID != first && ws[0].Status == StatusIdle
	})
	if c := st.sup.Counts("py"); c.Unhealthy != 0 {
		t.Errorf("counts %+v after a refresh", c)
	}
	// The refreshed worker stopped by itself on SIGTERM, within StopGrace.
	recs, _ := st.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "py", Worker: first})
	for _, r := range recs {
		if r.Stream == logs.StreamSystem && strings.Contains(r.Line, "SIGKILL") {
			t.Errorf("refreshed worker was killed: %s", r.Line)
		}
	}
}

// TestGoSDKWorker runs examples/refresh (the Go serverless SDK) under the
// supervisor: a job, then one that asks for a fresh worker.
func TestGoSDKWorker(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "refresh")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/refresh").CombinedOutput(); err != nil {
		t.Fatalf("build examples/refresh: %v\n%s", err, out)
	}
	st := newStack(t, `
endpoints:
  - id: gosdk
    command: [`+bin+`]
    workersMin: 1
    workersMax: 1
    workerKey: wk-go
`, time.Second)
	s := st.wait(t, "gosdk", st.run(t, "gosdk", `{"dirty":false}`), nil)
	if s.Output["cleaned"] != true {
		t.Errorf("output %v", s.Output)
	}
	ws := st.sup.Workers("gosdk")
	if len(ws) != 1 {
		t.Fatalf("workers %+v", ws)
	}
	first := ws[0].ID
	st.wait(t, "gosdk", st.run(t, "gosdk", `{"dirty":true}`), nil)
	testutil.WaitFor(t, 30*time.Second, "a new idle worker", func() bool {
		ws := st.sup.Workers("gosdk")
		return len(ws) == 1 && ws[0].ID != first && ws[0].Status == StatusIdle
	})
	recs, _ := st.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "gosdk", Worker: first})
	for _, r := range recs {
		if r.Stream == logs.StreamSystem && strings.Contains(r.Line, "SIGKILL") {
			t.Errorf("refreshed worker was killed: %s", r.Line)
		}
	}
}
