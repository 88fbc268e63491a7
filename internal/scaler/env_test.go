package scaler

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/logs"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestWorkerEnvironment(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: env-ep
    command: [TESTWORKERBIN]
    dir: work
    workersMin: 1
    workerKey: ep-key
    env: {MY_SETTING: "42", PATH_LIKE: "a=b"}
`, nil)
	if err := os.Mkdir(filepath.Join(h.cfgDir, "work"), 0o750); err != nil {
		t.Fatal(err)
	}
	// The worker API must accept the endpoint's key; the job server knows one key.
	h.js.mu.Lock()
	h.js.key = "ep-key"
	h.js.mu.Unlock()
	var w WorkerInfo
	testutil.WaitFor(t, 20*time.Second, "a worker", func() bool {
		ws := h.live("env-ep")
		if len(ws) == 1 {
			w = ws[0]
			return true
		}
		return false
	})
	env := h.workerEnv(w.ID)
	base := h.js.srv.URL + "/v2/env-ep"
	want := map[string]string{
		"RUNPOD_POD_ID":              w.ID,
		"RUNPOD_ENDPOINT_ID":         "env-ep",
		"RUNPOD_AI_API_KEY":          "ep-key",
		"RUNPOD_WEBHOOK_GET_JOB":     base + "/job-take/$ID?",
		"RUNPOD_WEBHOOK_POST_OUTPUT": base + "/job-done/$RUNPOD_POD_ID/$ID?",
		"RUNPOD_WEBHOOK_POST_STREAM": base + "/job-stream/$RUNPOD_POD_ID/$ID?",
		"RUNPOD_WEBHOOK_PING":        base + "/ping/$RUNPOD_POD_ID",
		"RUNPOD_PING_INTERVAL":       "200",
		"RUNPOD_GPU_COUNT":           "0",
		"MY_SETTING":                 "42",
		"PATH_LIKE":                  "a=b",
		"PYTHONUNBUFFERED":           "1",
		"SLUICE_TEST_CWD":            h.cfgDir + "/work",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["CUDA_VISIBLE_DEVICES"]; ok {
		t.Error("CUDA_VISIBLE_DEVICES set for a CPU endpoint")
	}
	// The worker reached the job API with that env: it is seen as idle.
	testutil.WaitFor(t, 20*time.Second, "worker idle", func() bool { return h.sup.Counts("env-ep").Idle == 1 })
}

func TestGPUAssignment(t *testing.T) {
	h := newHarness(t, `
gpus: ["7"]
endpoints:
  - id: gpu
    command: [TESTWORKERBIN]
    workersMax: 2
    gpuCount: 2
    gpus: ["0", "1", "2", "3"]
    scalerType: REQUEST_COUNT
    scalerValue: 1
  - id: shared-a
    command: [TESTWORKERBIN]
    workersMin: 1
    workersMax: 1
    gpuCount: 1
  - id: shared-b
    command: [TESTWORKERBIN]
    workersMin: 1
    workersMax: 1
    gpuCount: 1
`, nil)
	ids := []string{h.submit("gpu", map[string]any{"sleep_ms": 1500}), h.submit("gpu", map[string]any{"sleep_ms": 1500})}
	jobs := h.js.waitDone(30*time.Second, ids...)
	seen := map[string]string{}
	for _, j := range jobs {
		wid := j.Output["worker"].(string)
		env := h.workerEnv(wid)
		if env["CUDA_VISIBLE_DEVICES"] != j.Output["gpus"] || env["RUNPOD_GPU_COUNT"] != "2" {
			t.Errorf("worker %s: env CUDA_VISIBLE_DEVICES %q, output %q, count %q", wid, env["CUDA_VISIBLE_DEVICES"], j.Output["gpus"], env["RUNPOD_GPU_COUNT"])
		}
		devs := strings.Split(env["CUDA_VISIBLE_DEVICES"], ",")
		if len(devs) != 2 {
			t.Errorf("worker %s got devices %v, want 2", wid, devs)
		}
		for _, d := range devs {
			if !slices.Contains([]string{"0", "1", "2", "3"}, d) {
				t.Errorf("device %q not in the pool", d)
			}
			if other, dup := seen[d]; dup && other != wid {
				t.Errorf("device %s given to %s and %s", d, other, wid)
			}
			seen[d] = wid
		}
	}
	if len(jobs[0].Output["worker"].(string)) == 0 || jobs[0].Output["worker"] == jobs[1].Output["worker"] {
		t.Errorf("the two jobs did not run on two workers at once: %v", jobs)
	}

	// Two endpoints share the one-device file pool: one runs, one is throttled.
	var holder, waiter string
	testutil.WaitFor(t, 20*time.Second, "one shared endpoint throttled", func() bool {
		a, b := h.sup.Counts("shared-a"), h.sup.Counts("shared-b")
		switch {
		case a.Idle == 1 && b.Throttled == 1:
			holder, waiter = "shared-a", "shared-b"
		case b.Idle == 1 && a.Throttled == 1:
			holder, waiter = "shared-b", "shared-a"
		default:
			return false
		}
		return true
	})
	if env := h.workerEnv(h.live(holder)[0].ID); env["CUDA_VISIBLE_DEVICES"] != "7" {
		t.Errorf("%s got %q, want 7", holder, env["CUDA_VISIBLE_DEVICES"])
	}
	// Removing the holder frees the device for the other.
	var keep string
	for _, e := range []string{"gpu", waiter} {
		for _, ep := range h.cfg.Endpoints {
			if ep.ID == e {
				keep += "  - id: " + ep.ID + "\n    command: [TESTWORKERBIN]\n"
				if e == waiter {
					keep += "    workersMin: 1\n    workersMax: 1\n    gpuCount: 1\n"
				} else {
					keep += "    workersMax: 2\n    gpuCount: 2\n    gpus: [\"0\", \"1\", \"2\", \"3\"]\n    scalerType: REQUEST_COUNT\n    scalerValue: 1\n"
				}
			}
		}
	}
	h.update("gpus: [\"7\"]\nendpoints:\n" + keep)
	testutil.WaitFor(t, 20*time.Second, waiter+" gets the device", func() bool {
		ws := h.live(waiter)
		return len(ws) == 1 && slices.Equal(ws[0].GPUs, []string{"7"})
	})
	if env := h.workerEnv(h.live(waiter)[0].ID); env["CUDA_VISIBLE_DEVICES"] != "7" {
		t.Errorf("%s got %q, want 7", waiter, env["CUDA_VISIBLE_DEVICES"])
	}
	testutil.WaitFor(t, 20*time.Second, holder+" removed", func() bool {
		_, ok := h.sup.Status(holder)
		return !ok
	})
}

func TestRollingReleaseOnConfigChange(t *testing.T) {
	const yaml = `
endpoints:
  - id: roll
    command: [TESTWORKERBIN]
    workersMin: 2
    workersMax: 2
    env: {VERSION: "%s"}
`
	h := newHarness(t, strings.Replace(yaml, "%s", "1", 1), nil)
	testutil.WaitFor(t, 20*time.Second, "2 idle workers", func() bool { return h.sup.Counts("roll").Idle == 2 })
	busy := h.submit("roll", map[string]any{"sleep_ms": 2000})
	testutil.WaitFor(t, 20*time.Second, "job running", func() bool { return h.js.job(busy).State == "running" })
	h.update(strings.Replace(yaml, "%s", "2", 1))
	j := h.js.waitDone(20*time.Second, busy)[0]
	if j.Takes != 1 || j.Output["termDuringJob"] != false {
		t.Errorf("busy job during a config change: takes %d, SIGTERM during job %v", j.Takes, j.Output["termDuringJob"])
	}
	testutil.WaitFor(t, 20*time.Second, "2 new workers", func() bool {
		ws := h.live("roll")
		if len(ws) != 2 {
			return false
		}
		for _, w := range ws {
			if w.Stale || w.Draining || w.Status != StatusIdle || h.workerEnv(w.ID)["VERSION"] != "2" {
				return false
			}
		}
		return true
	})
}

func TestLogsPerWorkerAndJob(t *testing.T) {
	h := newHarness(t, `
endpoints:
  - id: lg
    command: [TESTWORKERBIN]
    workersMax: 1
`, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /v2/{endpoint}/logs", h.sup.LogHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	j := h.js.waitDone(20*time.Second, h.submit("lg", map[string]any{"log": "hello from the handler"}))[0]
	var recs []logs.Record
	// "finished" is printed just after job-done returns.
	testutil.WaitFor(t, 10*time.Second, "the job's last line", func() bool {
		recs, _ = h.sup.Logs().Read(context.Background(), logs.Filter{Endpoint: "lg", Job: j.ID})
		return len(recs) > 0 && strings.HasSuffix(recs[len(recs)-1].Line, "finished")
	})
	var lines []string
	for _, r := range recs {
		if r.Worker != j.Output["worker"] {
			t.Errorf("record of job %s from worker %s, want %s", j.ID, r.Worker, j.Output["worker"])
		}
		lines = append(lines, r.Line)
	}
	want := []string{
		"INFO   | " + j.ID + " | started",
		"INFO   | " + j.ID + " | hello from the handler",
		"INFO   | " + j.ID + " | finished",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("job lines %q\nwant %q", lines, want)
	}
	resp, err := http.Get(srv.URL + "/v2/lg/logs?worker=" + j.Output["worker"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Lines []logs.Record }
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(body.Lines) < 4 || !strings.Contains(body.Lines[0].Line, "started (pid") {
		t.Errorf("GET worker logs: %d %v %+v", resp.StatusCode, err, body.Lines)
	}
	if resp, err := http.Get(srv.URL + "/v2/unknown/logs"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown endpoint: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}

	// Follow a job that has not run yet.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v2/lg/logs?follow=1&tail=0", nil)
	fr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Body.Close()
	h.submit("lg", map[string]any{"log": "followed line"}) // after the follow started
	sc := bufio.NewScanner(fr.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "followed line") {
			return
		}
	}
	t.Fatalf("follow ended without the line: %v", sc.Err())
}
