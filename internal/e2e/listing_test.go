package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

// TestJobListing: on a real server with real workers, a job whose worker
// was killed mid-job (a worker-lost requeue) and a job that failed, was
// retried through /retry and completed are listed newest first, each with
// two attempts; `sluice jobs` and `sluice job` show them.
func TestJobListing(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey},
		"--endpoint", "ep", "--ping-interval", "1s", "--worker-lost-after", "3s", "--max-retries", "2")
	dir := t.TempDir()

	// A worker killed mid-job: its job goes back to the queue and runs again.
	started := filepath.Join(dir, "started")
	wk := s.startWorker(t, "ep", "killed", nil)
	r := s.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"echo":"x","sleep_ms":1500,"started":%q}}`, started))
	lost := r.json(t)["id"].(string)
	testutil.WaitFor(t, 20*time.Second, "the first worker to start the job", func() bool { return exists(started) })
	wk.kill9()
	s.startWorker(t, "ep", "second", nil)
	s.waitStatus(t, ck, "ep", lost, 60*time.Second, "COMPLETED")

	// A job that fails, is retried and completes.
	gate := filepath.Join(dir, "gate")
	r = s.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"fail_until":%q}}`, gate))
	retried := r.json(t)["id"].(string)
	s.waitStatus(t, ck, "ep", retried, 30*time.Second, "FAILED")
	failed := listJobs(t, s, "?status=FAILED")
	if len(failed.Jobs) != 1 || failed.Jobs[0].ID != retried || !strings.Contains(failed.Jobs[0].Error, "gate is missing") {
		t.Fatalf("FAILED list: %+v", failed)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.do(t, "POST", "/v2/ep/retry/"+retried, ck, nil); r.code != 200 {
		t.Fatalf("retry: %d %s", r.code, r.body)
	}
	s.waitStatus(t, ck, "ep", retried, 30*time.Second, "COMPLETED")

	all := listJobs(t, s, "")
	if len(all.Jobs) != 2 || all.Jobs[0].ID != retried || all.Jobs[1].ID != lost || all.NextCursor != "" {
		t.Fatalf("list: %+v", all)
	}
	page := listJobs(t, s, "?status=COMPLETED&limit=1")
	if len(page.Jobs) != 1 || page.Jobs[0].ID != retried || page.NextCursor == "" {
		t.Fatalf("first page of 1: %+v", page)
	}
	page = listJobs(t, s, "?status=COMPLETED&limit=1&cursor="+url.QueryEscape(page.NextCursor))
	if len(page.Jobs) != 1 || page.Jobs[0].ID != lost {
		t.Fatalf("second page of 1: %+v", page)
	}
	if f := listJobs(t, s, "?status=FAILED"); len(f.Jobs) != 0 {
		t.Fatalf("FAILED after the retry: %+v", f)
	}

	for _, c := range []struct {
		id      string
		workers []string
		outcome []string
	}{
		{lost, []string{"killed", "second"}, []string{wire.OutcomeWorkerLost, "COMPLETED"}},
		{retried, []string{"second", "second"}, []string{"FAILED", "COMPLETED"}},
	} {
		r := s.do(t, "GET", "/v2/ep/jobs/"+c.id, ck, nil)
		var d wire.JobDetail
		if r.code != 200 || json.Unmarshal(r.body, &d) != nil {
			t.Fatalf("detail of %s: %d %s", c.id, r.code, r.body)
		}
		if len(d.Attempts) != 2 || d.Status != "COMPLETED" || len(d.Output) == 0 {
			t.Fatalf("detail of %s: %s", c.id, r.body)
		}
		for i, a := range d.Attempts {
			if a.Attempt != i+1 || a.WorkerID != c.workers[i] || a.Outcome != c.outcome[i] || a.StartedAt.IsZero() || a.FinishedAt.IsZero() {
				t.Errorf("job %s attempt %d: %+v, want worker %s outcome %s", c.id, i+1, a, c.workers[i], c.outcome[i])
			}
		}
	}

	sluice := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bins.sluice, args...)
		cmd.Env = append(os.Environ(), "SLUICE_URL="+s.url, "SLUICE_API_KEY="+clientKey)
		out, errb, code, err := testutil.Run(cmd)
		if err != nil || code != 0 {
			t.Fatalf("sluice %v: exit %d, %v, stderr %s", args, code, err, errb)
		}
		return out
	}
	if out := sluice("jobs", "ep", "--status", "COMPLETED"); !strings.Contains(out, retried) || !strings.Contains(out, lost) ||
		strings.Index(out, retried) > strings.Index(out, lost) {
		t.Errorf("sluice jobs:\n%s", out)
	}
	if out := sluice("job", "ep", lost); !strings.Contains(out, "WORKER_LOST") || !strings.Contains(out, "killed") {
		t.Errorf("sluice job:\n%s", out)
	}
}

func listJobs(t *testing.T, s *server, query string) wire.JobList {
	t.Helper()
	r := s.do(t, "GET", "/v2/ep/jobs"+query, ck, nil)
	var l wire.JobList
	if r.code != 200 || json.Unmarshal(r.body, &l) != nil {
		t.Fatalf("GET /v2/ep/jobs%s: %d %s", query, r.code, r.body)
	}
	return l
}

// TestJobListingReplicas: two `sluice serve` replicas on one NATS list the
// same jobs: a job submitted to A is listed by B at once, and its state
// changes made through B show in A's listing.
func TestJobListingReplicas(t *testing.T) {
	a, b, _ := twoReplicas(t)
	if l := listJobs(t, b, ""); len(l.Jobs) != 0 { // B's index runs before A submits
		t.Fatalf("B lists %+v before any submit", l)
	}
	id := a.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":1}}`)).json(t)["id"].(string)
	if l := listJobs(t, b, "?status=IN_QUEUE"); len(l.Jobs) != 1 || l.Jobs[0].ID != id {
		t.Fatalf("B lists %+v, want %s IN_QUEUE", l, id)
	}
	if r := b.do(t, "POST", "/v2/ep/cancel/"+id, ck, nil); r.code != 200 {
		t.Fatalf("cancel on B: %d %s", r.code, r.body)
	}
	if l := listJobs(t, a, "?status=CANCELLED"); len(l.Jobs) != 1 || l.Jobs[0].ID != id {
		t.Fatalf("A lists %+v, want %s CANCELLED", l, id)
	}
}
