package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestKill9 kills `sluice serve` with SIGKILL in the middle of a load,
// restarts it on the same data directory and address, and checks that every
// job whose id was returned reaches a terminal state (and is not lost).
func TestKill9(t *testing.T) {
	dataDir := t.TempDir()
	args := []string{"--endpoint", "ep", "--ping-interval", "1s", "--worker-lost-after", "4s"}
	s := startServer(t, "", dataDir, []string{"SLUICE_API_KEYS=" + clientKey}, args...)
	for i := range 2 {
		s.startWorker(t, "ep", fmt.Sprintf("w%d", i), nil)
	}
	var (
		mu  sync.Mutex
		ids []string
	)
	// load submits from 4 clients until a request fails (the server is
	// gone) or each has sent n jobs.
	load := func(n int) {
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for i := range n {
					body := fmt.Appendf(nil, `{"input":{"echo":"%d-%d","sleep_ms":20},"policy":{"executionTimeout":10000}}`, c, i)
					r, err := s.try("POST", "/v2/ep/run", ck, body)
					if err != nil || r.code != 200 {
						return
					}
					id := r.json(t)["id"].(string)
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	accepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids)
	}
	var wg sync.WaitGroup
	wg.Go(func() { load(250) })
	testutil.WaitFor(t, 30*time.Second, "some jobs accepted", func() bool { return accepted() >= 30 })
	s.kill9() // mid-load: the clients are still submitting
	wg.Wait()
	before := accepted()
	if before >= 4*250 {
		t.Fatalf("the kill landed after the load ended")
	}
	s.start()
	load(10)
	if accepted() <= before {
		t.Fatalf("no job accepted after the restart")
	}
	counts := map[string]int{}
	for _, id := range ids {
		m := s.waitStatus(t, ck, "ep", id, 90*time.Second, "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
		counts[m["status"].(string)]++
	}
	t.Logf("%d jobs accepted (%d before the kill): %v", len(ids), before, counts)
	if counts["COMPLETED"] < len(ids)/2 {
		t.Errorf("only %d of %d jobs completed: %v", counts["COMPLETED"], len(ids), counts)
	}
}

// TestWorkerLost: a worker killed mid-job loses it; the job is requeued and
// completes on another worker. A job that kills every worker running it is
// retried up to --max-retries, then FAILED with "worker lost".
func TestWorkerLost(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey},
		"--endpoint", "ep", "--ping-interval", "1s", "--worker-lost-after", "3s", "--max-retries", "1")
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	a := s.startWorker(t, "ep", "wa", nil)
	r := s.do(t, "POST", "/v2/ep/run", ck, fmt.Appendf(nil, `{"input":{"echo":"again","sleep_ms":1500,"started":%q}}`, started))
	id := r.json(t)["id"].(string)
	testutil.WaitFor(t, 20*time.Second, "worker a to start the job", func() bool { return exists(started) })
	a.kill9()
	s.startWorker(t, "ep", "wb", nil)
	m := s.waitStatus(t, ck, "ep", id, 60*time.Second, "COMPLETED", "FAILED")
	if m["status"] != "COMPLETED" || m["output"].(map[string]any)["worker"] != "wb" || m["retries"] != float64(1) {
		t.Errorf("requeued job: %v; want COMPLETED by wb with retries 1", m)
	}

	// A poison job: every worker that runs it exits.
	r = s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"exit":true}}`))
	id = r.json(t)["id"].(string)
	deadline := time.Now().Add(90 * time.Second)
	var workers []*worker
	for n := 0; ; {
		m = s.do(t, "GET", "/v2/ep/status/"+id, ck, nil).json(t)
		if m["status"] == "FAILED" || time.Now().After(deadline) {
			break
		}
		alive := false
		for _, w := range workers {
			select {
			case <-w.done:
			default:
				alive = true
			}
		}
		if !alive && n < 5 {
			n++
			workers = append(workers, s.startWorker(t, "ep", fmt.Sprintf("poison-%d", n), nil))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m["status"] != "FAILED" || !strings.Contains(fmt.Sprint(m["error"]), "worker lost") {
		t.Errorf("poison job: %v; want FAILED with \"worker lost\"", m)
	}
	if len(workers) != 2 {
		t.Errorf("poison job ran on %d workers; want 2 (1 try + 1 retry)", len(workers))
	}
}

// TestRetention: results disappear (404) after the configured retention,
// for /run and for /runsync.
func TestRetention(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey},
		"--endpoint", "ep", "--retention", "3s", "--sync-retention", "2s")
	s.startWorker(t, "ep", "w1", nil)
	r := s.do(t, "POST", "/v2/ep/runsync", ck, []byte(`{"input":{"echo":1}}`))
	syncID := r.json(t)["id"].(string)
	r = s.do(t, "POST", "/v2/ep/run", ck, []byte(`{"input":{"echo":2}}`))
	runID := r.json(t)["id"].(string)
	s.waitStatus(t, ck, "ep", runID, 20*time.Second, "COMPLETED")
	finished := time.Now()
	for _, id := range []string{syncID, runID} {
		testutil.WaitFor(t, 60*time.Second, "job "+id+" to expire", func() bool {
			return s.do(t, "GET", "/v2/ep/status/"+id, ck, nil).code == 404
		})
	}
	if time.Since(finished) < 2*time.Second {
		t.Errorf("results expired after %v, before the retention", time.Since(finished))
	}
}

// TestPayloads: a 10 MiB /run body and a 20 MiB /runsync body are accepted
// and run; one byte more is a 413 with a JSON error.
func TestPayloads(t *testing.T) {
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS=" + clientKey}, "--endpoint", "ep")
	s.startWorker(t, "ep", "w1", nil)
	body := func(total int) []byte {
		head, tailPart := []byte(`{"input":{"echo":"small","pad":"`), []byte(`"}}`)
		return bytes.Join([][]byte{head, bytes.Repeat([]byte("p"), total-len(head)-len(tailPart)), tailPart}, nil)
	}
	r := s.do(t, "POST", "/v2/ep/run", ck, body(10<<20))
	if r.code != 200 {
		t.Fatalf("10 MiB /run: %d %s", r.code, tail(string(r.body), 300))
	}
	s.waitStatus(t, ck, "ep", r.json(t)["id"].(string), 60*time.Second, "COMPLETED")
	r = s.do(t, "POST", "/v2/ep/runsync?wait=60000", ck, body(20<<20))
	if r.code != 200 || r.json(t)["status"] != "COMPLETED" {
		t.Errorf("20 MiB /runsync: %d %s", r.code, tail(string(r.body), 300))
	}
	for path, n := range map[string]int{"/v2/ep/run": 10<<20 + 1, "/v2/ep/runsync": 20<<20 + 1} {
		r = s.do(t, "POST", path, ck, body(n))
		if r.code != 413 || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "limit") {
			t.Errorf("%s with %d bytes: %d %s", path, n, r.code, r.body)
		}
	}
}
