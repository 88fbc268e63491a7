package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestPrometheusScrapesSluice: a real Prometheus scrapes a real `sluice
// serve` (its --metrics-addr listener, no key) while a managed endpoint's
// real worker processes run N jobs, k of them failing and one with a
// webhook; PromQL answers from Prometheus's HTTP API must match what
// happened. Every query of the Grafana dashboard is then run against the
// same Prometheus, and every metric it names must be in a real scrape.
func TestPrometheusScrapesSluice(t *testing.T) {
	promBin := testutil.NeedBinary(t, "prometheus", "/usr/bin/prometheus")
	const (
		n, k = 12, 3
		key  = "metrics-client-key"
		ep   = "pm"
	)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf("pingIntervalMs: 1000\napiKeys: [%s]\nwebhooks: {allow: [127.0.0.0/8]}\nendpoints:\n  - id: %s\n    command: [%q]\n    workersMax: 2\n    idleTimeout: 1\n", key, ep, bins.worker)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	s := startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg, "--metrics-addr", metricsAddr)
	auth := "Bearer " + key

	// On the main listener /metrics takes a client key; on its own listener none.
	if r := s.do(t, "GET", "/metrics", "", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("GET /metrics on the main listener without a key: %d %s, want 401", r.code, r.body)
	}
	if r := s.do(t, "GET", "/metrics", auth, nil); r.code != http.StatusOK || !strings.Contains(string(r.body), "sluice_jobs_queued{endpoint=\""+ep+"\"}") {
		t.Fatalf("GET /metrics on the main listener with a key: %d %s", r.code, tail(string(r.body), 500))
	}

	prom := startPrometheus(t, promBin, metricsAddr)

	hooks := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case hooks <- struct{}{}:
		default:
		}
	}))
	defer hook.Close()

	ids := make([]string, 0, n)
	for i := range n {
		body := fmt.Sprintf(`{"input": {"echo": %d}}`, i)
		switch {
		case i < k:
			body = fmt.Sprintf(`{"input": {"fail": "job %d fails"}}`, i)
		case i == k:
			body = fmt.Sprintf(`{"input": {"echo": %d}, "webhook": %q}`, i, hook.URL)
		}
		r := s.do(t, "POST", "/v2/"+ep+"/run", auth, []byte(body))
		if r.code != 200 {
			t.Fatalf("run: %d %s", r.code, r.body)
		}
		ids = append(ids, r.json(t)["id"].(string))
	}
	for i, id := range ids {
		want := "COMPLETED"
		if i < k {
			want = "FAILED"
		}
		s.waitStatus(t, auth, ep, id, 60*time.Second, want)
	}
	select {
	case <-hooks:
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook was not delivered within 30s")
	}

	sel := `{endpoint="` + ep + `"}`
	checks := []struct {
		query string
		want  func(float64) bool
		what  string
	}{
		{`sluice_jobs_submitted_total` + sel, eq(n), fmt.Sprint(n)},
		{`sluice_jobs_finished_total{endpoint="` + ep + `",status="COMPLETED"}`, eq(n - k), fmt.Sprint(n - k)},
		{`sluice_jobs_finished_total{endpoint="` + ep + `",status="FAILED"}`, eq(k), fmt.Sprint(k)},
		{`sluice_job_delay_seconds_count` + sel, eq(n), fmt.Sprint(n)},
		{`sluice_job_execution_seconds_count` + sel, eq(n), fmt.Sprint(n)},
		{`sluice_jobs_queued` + sel, eq(0), "0"},
		{`sluice_jobs_in_progress` + sel, eq(0), "0"},
		{`sluice_webhook_deliveries_total{endpoint="` + ep + `",result="delivered"}`, eq(1), "1"},
		{`sum(sluice_http_requests_total{route="/v2/{endpoint}/run",code="200"})`, eq(n), fmt.Sprint(n)},
		{`sluice_worker_starts_total` + sel, atLeast(1), ">= 1"},
		{`sluice_worker_cold_start_seconds_count` + sel, atLeast(1), ">= 1"},
		// idleTimeout 1 s: the workers are stopped once the jobs are done.
		{`sum(sluice_worker_exits_total{endpoint="` + ep + `",reason="drained"})`, atLeast(1), ">= 1"},
		{`sum(sluice_workers{endpoint="` + ep + `",state=~"idle|running|initializing"})`, eq(0), "0"},
		{`go_goroutines`, atLeast(1), ">= 1"},
		{`process_resident_memory_bytes`, atLeast(1), ">= 1"},
	}
	for _, c := range checks {
		prom.waitValue(t, c.query, c.what, c.want)
	}

	// The Grafana dashboard: every metric it names is in a real scrape, and
	// every query runs in Prometheus without error and finds data.
	scraped := scrapeNames(t, "http://"+metricsAddr+"/metrics")
	queries := dashboardQueries(t, filepath.Join("..", "..", "deploy", "grafana", "sluice.json"))
	if len(queries) < 10 {
		t.Fatalf("dashboard has %d queries, want the full set", len(queries))
	}
	metricRE := regexp.MustCompile(`\b(?:sluice|go|process)_[a-z0-9_]+`)
	vars := strings.NewReplacer(`$__rate_interval`, "1m", `$endpoint`, ".*", `$job`, ".*")
	for _, q := range queries {
		for _, name := range metricRE.FindAllString(q, -1) {
			if !scraped[name] {
				t.Errorf("dashboard query %q names %s, which the scrape of sluice serve does not have", q, name)
			}
		}
		if strings.HasPrefix(q, "label_values(") {
			continue
		}
		expr := vars.Replace(q)
		// No worker crashed here, so the crash panel alone may find nothing.
		mayBeEmpty := strings.Contains(expr, `reason="crash"`)
		prom.waitCond(t, expr, "data", func(res []promSample) bool { return len(res) > 0 || mayBeEmpty })
	}
}

func eq(want float64) func(float64) bool   { return func(v float64) bool { return v == want } }
func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }

// prometheus is a real Prometheus server scraping one target.
type prometheus struct {
	url string
}

// startPrometheus runs the Prometheus binary with a config that scrapes
// target every second, and waits until it is ready.
func startPrometheus(t *testing.T, bin, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	log := &testutil.Buffer{}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log (tail):\n%s", tail(log.String(), 3000))
		}
	})
	p := &prometheus{url: "http://" + addr}
	testutil.WaitFor(t, 60*time.Second, "prometheus ready", func() bool {
		select {
		case <-done:
			t.Fatalf("prometheus exited:\n%s", log.String())
		default:
		}
		res, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return p
}

// promSample is one element of an instant vector answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant PromQL query.
func (p *prometheus) query(expr string) ([]promSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", p.url+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, &queryError{fmt.Sprintf("query %s: %s %s", expr, body.Status, body.Error)}
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s, want vector", expr, body.Data.ResultType)
	}
	return body.Data.Result, nil
}

// queryError is an answer with status "error": bad PromQL, not worth retrying.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

// waitCond polls expr until cond holds for its answer; an error answer
// (bad PromQL) fails at once.
func (p *prometheus) waitCond(t *testing.T, expr, what string, cond func([]promSample) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last []promSample
	for {
		res, err := p.query(expr)
		var qe *queryError
		if errors.As(err, &qe) {
			t.Fatal(qe)
		}
		if err == nil {
			if cond(res) {
				return
			}
			last = res
		}
		if time.Now().After(deadline) {
			t.Fatalf("PromQL %s: want %s within 60s; last answer %v (err %v)", expr, what, last, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitValue polls expr until it answers one sample whose value passes want.
func (p *prometheus) waitValue(t *testing.T, expr, what string, want func(float64) bool) {
	t.Helper()
	p.waitCond(t, expr, what, func(res []promSample) bool {
		if len(res) != 1 {
			return false
		}
		s, _ := res[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return err == nil && want(v)
	})
}

// scrapeNames fetches a Prometheus text exposition and returns its sample names.
func scrapeNames(t *testing.T, u string) map[string]bool {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %v", u, res.StatusCode, err)
	}
	names := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// dashboardQueries returns every PromQL expression (panel targets) and
// template query of a Grafana dashboard JSON file.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Fatalf("%s: a panel target without expr", path)
			}
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
