package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestJobID(t *testing.T) {
	tests := []struct{ line, want string }{
		{"INFO   | test_job_id | test_message", "test_job_id"},
		{"ERROR  | 1b7c-44e2-u1 | boom | with pipes", "1b7c-44e2-u1"},
		{"WARN   | job-9 | x", "job-9"},
		{"DEBUG  | Started.", ""},
		{"INFO   | no job here", ""},
		{`{"requestId": "abc-123", "message": "hi", "level": "INFO"}`, "abc-123"},
		{`{"requestId": null, "message": "hi", "level": "INFO"}`, ""},
		{`{"requestId": 5}`, ""},
		{`{not json`, ""},
		{"plain print output", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := JobID(tt.line); got != tt.want {
			t.Errorf("JobID(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func FuzzJobID(f *testing.F) {
	f.Add("INFO   | j1 | m")
	f.Add(`{"requestId": "x"}`)
	f.Fuzz(func(t *testing.T, line string) {
		id := JobID(line)
		if strings.ContainsAny(id, "|") || (id != "" && !strings.Contains(line, id)) && !strings.HasPrefix(line, "{") {
			t.Fatalf("JobID(%q) = %q", line, id)
		}
	})
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWriterSplitsAndFilters(t *testing.T) {
	s := open(t, Config{MaxLineBytes: 64})
	w := s.Writer("ep", "w1", StreamStdout)
	fmt.Fprint(w, "INFO   | job-1 | first\nINFO   | job-2 | sec")
	fmt.Fprint(w, "ond\r\nplain ")
	fmt.Fprint(w, "print")
	w.Close()
	_, _ = s.Writer("ep", "w2", StreamStderr).Write([]byte(strings.Repeat("x", 150) + "\n"))
	_, _ = s.Writer("other", "w3", StreamStdout).Write([]byte("INFO   | job-1 | other endpoint\n"))

	ctx := context.Background()
	all, err := s.Read(ctx, Filter{Endpoint: "ep"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range all {
		got = append(got, r.Worker+"/"+r.Stream+"/"+r.Job+"/"+r.Line)
	}
	want := []string{
		"w1/stdout/job-1/INFO   | job-1 | first",
		"w1/stdout/job-2/INFO   | job-2 | second",
		"w1/stdout//plain print",
		"w2/stderr//" + strings.Repeat("x", 64),
		"w2/stderr//" + strings.Repeat("x", 64),
		"w2/stderr//" + strings.Repeat("x", 22),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	job1, _ := s.Read(ctx, Filter{Endpoint: "ep", Job: "job-1"})
	if len(job1) != 1 || job1[0].Line != "INFO   | job-1 | first" {
		t.Errorf("job filter: %+v", job1)
	}
	w2, _ := s.Read(ctx, Filter{Endpoint: "ep", Worker: "w2", Tail: 2})
	if len(w2) != 2 || w2[1].Line != strings.Repeat("x", 22) {
		t.Errorf("worker+tail filter: %+v", w2)
	}
	none, err := s.Read(ctx, Filter{Endpoint: "never"})
	if err != nil || len(none) != 0 {
		t.Errorf("unknown endpoint: %v %v", none, err)
	}
}

func TestRotationBoundsDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir, MaxFileBytes: 4096})
	for i := range 500 {
		if err := s.Append(Record{Endpoint: "ep", Worker: "w", Stream: StreamStdout, Line: fmt.Sprintf("line %04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, _ := e.Info()
		total += fi.Size()
	}
	if len(entries) != 2 || total > 2*4096 {
		t.Errorf("%d files, %d bytes; want 2 files within 8192 bytes", len(entries), total)
	}
	recs, err := s.Read(context.Background(), Filter{Endpoint: "ep"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Line != "line 0499" {
		t.Fatalf("last record lost after rotation: %d records", len(recs))
	}
	for i := 1; i < len(recs); i++ { // contiguous, oldest first
		if recs[i].Line <= recs[i-1].Line {
			t.Fatalf("out of order at %d: %q after %q", i, recs[i].Line, recs[i-1].Line)
		}
	}
	// Reopening appends to the same files.
	s.Close()
	s2 := open(t, Config{Dir: dir, MaxFileBytes: 4096})
	_ = s2.Append(Record{Endpoint: "ep", Worker: "w", Stream: StreamSystem, Line: "after reopen"})
	recs, _ = s2.Read(context.Background(), Filter{Endpoint: "ep", Tail: 2})
	if len(recs) != 2 || recs[0].Line != "line 0499" || recs[1].Line != "after reopen" {
		t.Errorf("after reopen: %+v", recs)
	}
	if _, err := os.Stat(filepath.Join(dir, "ep.log.1")); err != nil {
		t.Error(err)
	}
}

func TestHandler(t *testing.T) {
	s := open(t, Config{})
	known := func(ep string) bool { return ep == "ep" }
	mux := http.NewServeMux()
	mux.Handle("GET /v2/{endpoint}/logs", s.Handler(known))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_ = s.Append(Record{Endpoint: "ep", Worker: "w1", Stream: StreamStdout, Line: "INFO   | j1 | before"})
	_ = s.Append(Record{Endpoint: "ep", Worker: "w2", Stream: StreamStdout, Line: "INFO   | j2 | other"})

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}
	code, body := get("/v2/ep/logs?job=j1")
	var out struct {
		Endpoint string   `json:"endpoint"`
		Lines    []Record `json:"lines"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out.Lines) != 1 || out.Lines[0].Worker != "w1" {
		t.Errorf("GET job=j1: %d %s", code, body)
	}
	for _, bad := range []struct {
		path string
		code int
	}{
		{"/v2/nope/logs", 404},
		{"/v2/ep/logs?tail=-1", 400},
		{"/v2/ep/logs?tail=99999", 400},
		{"/v2/ep/logs?follow=maybe", 400},
		{"/v2/ep/logs?worker=" + strings.Repeat("w", 300), 400},
		{"/v2/ep/logs?since=yesterday", 400},
		{"/v2/ep/logs?since=-5m", 400},
		{"/v2/ep/logs?since=" + strings.Repeat("9", 300), 400},
	} {
		code, body := get(bad.path)
		if code != bad.code || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %s, want %d with a JSON error", bad.path, code, body, bad.code)
		}
	}

	// since: a duration ago or a time.
	old := time.Now().Add(-time.Hour)
	if err := s.Append(Record{Time: old, Endpoint: "ep", Worker: "w3", Stream: StreamStdout, Line: "an hour ago"}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]bool{
		"since=10m": false, "since=2h": true,
		"since=" + old.Add(-time.Second).UTC().Format(time.RFC3339): true,
		"since=" + old.Add(time.Second).UTC().Format(time.RFC3339):  false,
	} {
		code, body := get("/v2/ep/logs?worker=w3&" + q)
		if code != 200 || strings.Contains(body, "an hour ago") != want {
			t.Errorf("GET worker=w3&%s: %d %s, want the old line: %v", q, code, body, want)
		}
	}

	// Follow: backlog of tail=1 for worker w1, then a live line, and nothing from w2.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v2/ep/logs?worker=w1&follow=1&tail=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() Record {
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var r Record
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				return r
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return Record{}
	}
	if r := next(); r.Line != "INFO   | j1 | before" {
		t.Fatalf("backlog record %+v", r)
	}
	_ = s.Append(Record{Endpoint: "ep", Worker: "w2", Stream: StreamStdout, Line: "not for this follower"})
	_ = s.Append(Record{Endpoint: "ep", Worker: "w1", Stream: StreamStdout, Line: "live"})
	if r := next(); r.Line != "live" || r.Worker != "w1" {
		t.Fatalf("live record %+v", r)
	}
}

func TestFollowReportsDrops(t *testing.T) {
	s := open(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	release := make(chan struct{})
	var got []Record
	done := make(chan error, 1)
	go func() {
		first := true
		done <- s.Follow(ctx, Filter{Endpoint: "ep"}, func(r Record) error {
			got = append(got, r)
			if first {
				first = false
				close(started)
				<-release // block the follower while lines pile up
			}
			if r.Line == "end" {
				cancel()
			}
			return nil
		})
	}()
	// The first Append reaches the follower only once it is subscribed.
	deadline := time.Now().Add(5 * time.Second)
	for subscribed := false; !subscribed; {
		s.mu.Lock()
		subscribed = len(s.subs) == 1
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("follower never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	_ = s.Append(Record{Endpoint: "ep", Line: "first"})
	<-started
	for i := range followBuffer + 10 {
		_ = s.Append(Record{Endpoint: "ep", Line: fmt.Sprint(i)})
	}
	close(release)
	// Once the follower has drained its buffer, "end" gets through and stops it.
	deadline = time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := 0
		for sb := range s.subs {
			n = len(sb.ch)
		}
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("follower never drained")
		}
		time.Sleep(time.Millisecond)
	}
	_ = s.Append(Record{Endpoint: "ep", Line: "end"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got {
		if r.Stream == StreamSystem && strings.Contains(r.Line, "skipped") {
			found = true
		}
	}
	// first + a full buffer + the notice + end; the other 10 were skipped.
	if !found || len(got) != 1+followBuffer+1+1 || got[len(got)-1].Line != "end" {
		t.Errorf("got %d records, drop notice %v", len(got), found)
	}
}
