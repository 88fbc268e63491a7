package scaler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// jobServer is a small in-memory job queue with a real HTTP worker API
// (job-take, job-done, ping) on loopback. It stands in for the engine so the
// supervisor's tests run real worker processes without depending on it. It
// implements Queue and WorkerLifecycle.
type jobServer struct {
	t         testing.TB
	key       string
	lostAfter time.Duration
	srv       *httptest.Server

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	jobs      map[string]*tJob
	queue     []string // job ids, FIFO
	workers   map[string]*tWorker
	draining  map[string]bool
	exited    []string
	seq       int
	onStopPod func(worker string)
}

type tJob struct {
	ID, Endpoint string
	Input        json.RawMessage
	Low          bool
	Created      time.Time
	State        string // queued, running, done
	Worker       string
	Output       map[string]any
	Takes        int
	Requeued     int
}

type tWorker struct {
	endpoint string
	lastSeen time.Time
	jobs     []string
}

func newJobServer(t testing.TB) *jobServer {
	js := &jobServer{
		t: t, key: "worker-key-test", lostAfter: 2 * time.Second,
		changed: make(chan struct{}), jobs: map[string]*tJob{},
		workers: map[string]*tWorker{}, draining: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/{ep}/job-take/{wid}", js.take)
	mux.HandleFunc("POST /v2/{ep}/job-done/{wid}/{jid}", js.done)
	mux.HandleFunc("GET /v2/{ep}/ping/{wid}", js.ping)
	js.srv = httptest.NewServer(mux)
	t.Cleanup(js.srv.Close)
	return js
}

// change wakes long polls. Called with js.mu held.
func (js *jobServer) change() {
	close(js.changed)
	js.changed = make(chan struct{})
}

func (js *jobServer) seen(ep, wid string) *tWorker {
	w := js.workers[wid]
	if w == nil {
		w = &tWorker{endpoint: ep}
		js.workers[wid] = w
	}
	w.lastSeen = time.Now()
	return w
}

func (js *jobServer) auth(w http.ResponseWriter, r *http.Request) bool {
	js.mu.Lock()
	key := js.key
	js.mu.Unlock()
	if r.Header.Get("Authorization") != key {
		http.Error(w, `{"error":"bad worker key"}`, http.StatusUnauthorized)
		return false
	}
	return true
}

func (js *jobServer) take(w http.ResponseWriter, r *http.Request) {
	if !js.auth(w, r) {
		return
	}
	ep, wid := r.PathValue("ep"), r.PathValue("wid")
	deadline := time.NewTimer(500 * time.Millisecond)
	defer deadline.Stop()
	for {
		js.mu.Lock()
		tw := js.seen(ep, wid)
		if js.draining[wid] {
			js.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if j := js.pop(ep); j != nil {
			j.State, j.Worker = "running", wid
			j.Takes++
			tw.jobs = append(tw.jobs, j.ID)
			body, _ := json.Marshal(map[string]any{"id": j.ID, "input": j.Input})
			js.change()
			js.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
		ch := js.changed
		js.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// pop takes the first normal job of ep, else the first low one. Called with js.mu held.
func (js *jobServer) pop(ep string) *tJob {
	for _, low := range []bool{false, true} {
		for i, id := range js.queue {
			if j := js.jobs[id]; j.Endpoint == ep && j.Low == low {
				js.queue = slices.Delete(js.queue, i, i+1)
				return j
			}
		}
	}
	return nil
}

func (js *jobServer) done(w http.ResponseWriter, r *http.Request) {
	if !js.auth(w, r) {
		return
	}
	ep, wid, jid := r.PathValue("ep"), r.PathValue("wid"), r.PathValue("jid")
	var body struct {
		Output  map[string]any `json:"output"`
		StopPod bool           `json:"stopPod"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
		return
	}
	js.mu.Lock()
	tw := js.seen(ep, wid)
	j := js.jobs[jid]
	if j == nil || j.Worker != wid || j.State != "running" {
		js.mu.Unlock()
		http.Error(w, `{"error":"not the owner"}`, http.StatusConflict)
		return
	}
	j.State, j.Output = "done", body.Output
	tw.jobs = slices.DeleteFunc(tw.jobs, func(id string) bool { return id == jid })
	js.change()
	hook := js.onStopPod
	js.mu.Unlock()
	if body.StopPod && hook != nil {
		hook(wid)
	}
	_, _ = w.Write([]byte("{}"))
}

func (js *jobServer) ping(w http.ResponseWriter, r *http.Request) {
	if !js.auth(w, r) {
		return
	}
	js.mu.Lock()
	js.seen(r.PathValue("ep"), r.PathValue("wid"))
	js.mu.Unlock()
	_, _ = w.Write([]byte("{}"))
}

// reap re-queues the jobs of workers not seen for lostAfter. Called with js.mu held.
func (js *jobServer) reap() {
	for wid, tw := range js.workers {
		if time.Since(tw.lastSeen) > js.lostAfter {
			js.requeue(wid)
			delete(js.workers, wid)
		}
	}
}

func (js *jobServer) requeue(wid string) {
	tw := js.workers[wid]
	if tw == nil {
		return
	}
	for _, id := range tw.jobs {
		if j := js.jobs[id]; j != nil && j.State == "running" {
			j.State, j.Worker = "queued", ""
			j.Requeued++
			js.queue = append([]string{id}, js.queue...)
		}
	}
	tw.jobs = nil
	js.change()
}

// QueueStats implements Queue.
func (js *jobServer) QueueStats(ctx context.Context, ep string) (engine.QueueStats, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.reap()
	var st engine.QueueStats
	for _, j := range js.jobs {
		if j.Endpoint != ep {
			continue
		}
		switch {
		case j.State == "running":
			st.InProgress++
		case j.State == "queued" && j.Low:
			st.QueuedLow++
		case j.State == "queued":
			st.Queued++
			st.OldestQueuedAge = max(st.OldestQueuedAge, time.Since(j.Created))
		}
	}
	return st, ctx.Err()
}

// Workers implements Queue.
func (js *jobServer) Workers(ctx context.Context, ep string) ([]engine.Worker, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.reap()
	var out []engine.Worker
	for wid, tw := range js.workers {
		if tw.endpoint == ep {
			out = append(out, engine.Worker{ID: wid, Endpoint: ep, LastSeen: tw.lastSeen, Jobs: slices.Clone(tw.jobs)})
		}
	}
	return out, ctx.Err()
}

// WorkerDraining implements WorkerLifecycle.
func (js *jobServer) WorkerDraining(ctx context.Context, ep, wid string) error {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.draining[wid] = true
	js.change()
	return nil
}

// WorkerExited implements WorkerLifecycle.
func (js *jobServer) WorkerExited(ctx context.Context, ep, wid, why string) error {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.exited = append(js.exited, wid)
	js.requeue(wid)
	delete(js.workers, wid)
	return nil
}

// submit queues a job and returns its id.
func (js *jobServer) submit(ep string, input any, low bool) string {
	b, err := json.Marshal(input)
	if err != nil {
		js.t.Fatal(err)
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	js.seq++
	id := fmt.Sprintf("job-%d-%d", js.seq, time.Now().UnixNano()%1000)
	js.jobs[id] = &tJob{ID: id, Endpoint: ep, Input: b, Low: low, Created: time.Now(), State: "queued"}
	js.queue = append(js.queue, id)
	js.change()
	return id
}

// job returns a copy of a job.
func (js *jobServer) job(id string) tJob {
	js.mu.Lock()
	defer js.mu.Unlock()
	return *js.jobs[id]
}

// waitDone waits for jobs to finish and returns them.
func (js *jobServer) waitDone(timeout time.Duration, ids ...string) []tJob {
	js.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		js.mu.Lock()
		var out []tJob
		for _, id := range ids {
			if j := js.jobs[id]; j.State == "done" {
				out = append(out, *j)
			}
		}
		ch := js.changed
		js.mu.Unlock()
		if len(out) == len(ids) {
			return out
		}
		select {
		case <-ch:
		case <-deadline.C:
			js.t.Fatalf("jobs not done after %s: %d of %d", timeout, len(out), len(ids))
		}
	}
}
