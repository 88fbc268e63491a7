package server

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// freeAddr returns a loopback address whose port is free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveEP runs Serve with opts (one endpoint "ep", data in a temp dir)
// until the test ends, and returns its address and its worker key.
func serveEP(t *testing.T, opts Options) (addr, workerKey string) {
	t.Helper()
	t.Setenv(EnvAPIKeys, "")
	opts.DataDir, opts.Endpoints = t.TempDir(), []string{"ep"}
	addr = serveForTest(t, opts)
	env, err := WorkerEnv(WorkerEnvOptions{Endpoint: "ep", Addr: addr, DataDir: opts.DataDir, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		if k, ok := strings.CutPrefix(kv, "RUNPOD_AI_API_KEY="); ok {
			workerKey = k
		}
	}
	return addr, workerKey
}

func call(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestServeMetricsDebugAndJobLogs: a job run over HTTP shows in the metrics
// of the --metrics-addr listener (no key), pprof answers on --debug-addr,
// and the JSON log lines about the job carry endpoint, job_id and worker_id.
func TestServeMetricsDebugAndJobLogs(t *testing.T) {
	logs := &testutil.Buffer{}
	metricsAddr, debugAddr := freeAddr(t), freeAddr(t)
	addr, key := serveEP(t, Options{
		MetricsAddr: metricsAddr, DebugAddr: debugAddr, TakeHold: 5 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	base := "http://" + addr + "/v2/ep/"
	code, body := call(t, "POST", base+"run", "", `{"input": 1}`)
	var job struct{ ID string }
	if code != 200 || json.Unmarshal([]byte(body), &job) != nil || job.ID == "" {
		t.Fatalf("run: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"job-take/w1?", key, ""); code != 200 || !strings.Contains(body, job.ID) {
		t.Fatalf("job-take: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"job-done/w1/"+job.ID+"?", key, `{"error": "boom"}`); code != 200 {
		t.Fatalf("job-done: %d %s", code, body)
	}

	code, body = call(t, "GET", "http://"+metricsAddr+"/metrics", "", "")
	for _, want := range []string{
		`sluice_jobs_submitted_total{endpoint="ep"} 1`,
		`sluice_jobs_finished_total{endpoint="ep",status="FAILED"} 1`,
		`sluice_job_delay_seconds_count{endpoint="ep"} 1`,
		`sluice_job_execution_seconds_count{endpoint="ep"} 1`,
		`sluice_http_requests_total{code="200",route="/v2/{endpoint}/job-done/{worker}/{job}"} 1`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics listener: %d, no %q in\n%s", code, want, body)
		}
	}
	if code, body := call(t, "GET", "http://"+debugAddr+"/debug/pprof/cmdline", "", ""); code != 200 || body == "" {
		t.Errorf("pprof cmdline: %d %q", code, body)
	}

	found := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["msg"] == "job taken" {
			found = true
			if line["endpoint"] != "ep" || line["job_id"] != job.ID || line["worker_id"] != "w1" {
				t.Errorf("job taken line %v: want endpoint=ep job_id=%s worker_id=w1", line, job.ID)
			}
		}
	}
	if !found {
		t.Errorf("no \"job taken\" line in the debug log:\n%s", logs.String())
	}
}

// TestServeMetricsOff: with NoMetrics the main listener's /metrics is a 404.
func TestServeMetricsOff(t *testing.T) {
	addr, _ := serveEP(t, Options{NoMetrics: true, Logger: slog.New(slog.DiscardHandler)})
	if code, body := call(t, "GET", "http://"+addr+"/metrics", "", ""); code != http.StatusNotFound || !strings.Contains(body, "no metrics") {
		t.Errorf("GET /metrics with metrics off: %d %s", code, body)
	}
}

// TestServeRefusesPublicDebugAddr: pprof is never served beyond loopback.
func TestServeRefusesPublicDebugAddr(t *testing.T) {
	t.Setenv(EnvAPIKeys, "")
	err := Serve(t.Context(), Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DebugAddr: "0.0.0.0:6060"})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Serve with --debug-addr 0.0.0.0:6060: %v", err)
	}
}
