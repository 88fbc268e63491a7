package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestRunPrintsJobID(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/run": answer(200, `{"id":"job-1","status":"IN_QUEUE"}`),
	})
	f.sluice(t, "", "run", "echo", `{"prompt": "hi"}`, "--webhook", "http://127.0.0.1:9/h", "--ttl", "1m", "--execution-timeout", "30s").
		check(t, 0, "job-1\n", "")
	f.sluice(t, "", "run", "echo", `{"prompt": "hi"}`, "--json").
		check(t, 0, `{"id":"job-1","status":"IN_QUEUE"}`+"\n", "")
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].method != "POST" || reqs[0].auth != "Bearer k1" {
		t.Fatalf("requests %+v", reqs)
	}
	testutil.Golden(t, "run_flags", reqs[0].body)
	testutil.Golden(t, "run_plain", reqs[1].body)
}

func TestRunInputSources(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/run": answer(200, `{"id":"job-1","status":"IN_QUEUE"}`),
	})
	path := filepath.Join(t.TempDir(), "req.json")
	if err := os.WriteFile(path, []byte(`[1, 2, 3]`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.sluice(t, `{"input": {"a": 1}, "policy": {"ttl": 5000}, "s3Config": {"bucketName": "b"}}`,
		"run", "echo", "-", "--low-priority").check(t, 0, "job-1\n", "")
	f.sluice(t, "", "run", "echo", "@"+path).check(t, 0, "job-1\n", "")
	f.sluice(t, "", "run", "echo").check(t, 0, "job-1\n", "")
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	testutil.Golden(t, "run_stdin_body", reqs[0].body)
	if got := string(reqs[1].body); got != `{"input":[1,2,3]}` {
		t.Errorf("file body %s", got)
	}
	if got := string(reqs[2].body); got != `{"input":{}}` {
		t.Errorf("no-input body %s", got)
	}
}

func TestRunBadInput(t *testing.T) {
	f := newFakeServer(t, nil)
	f.sluice(t, "", "run", "echo", `{"prompt":`).check(t, 1, "",
		"sluice: input from argument: not valid JSON: unexpected EOF\n")
	f.sluice(t, "", "run", "echo", `{"input": 1, "policy": 5}`, "--ttl", "1m").check(t, 1, "",
		"sluice: input: \"policy\" must be a JSON object\n")
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

func TestEnvironment(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/run": answer(200, `{"id":"job-1","status":"IN_QUEUE"}`),
	})
	t.Setenv(envURL, f.srv.URL)
	t.Setenv(envKey, "")
	t.Setenv(envRunpodKey, "rp-key")
	runSluice(context.Background(), "", "run", "echo", "{}").check(t, 0, "job-1\n", "")
	t.Setenv(envKey, "sluice-key")
	runSluice(context.Background(), "", "run", "echo", "{}").check(t, 0, "job-1\n", "")
	runSluice(context.Background(), "", "run", "echo", "{}", "--api-key", "flag-key").check(t, 0, "job-1\n", "")
	var auths []string
	for _, r := range f.requests() {
		auths = append(auths, r.auth)
	}
	if want := "Bearer rp-key|Bearer sluice-key|Bearer flag-key"; strings.Join(auths, "|") != want {
		t.Errorf("Authorization headers %q, want %q", auths, want)
	}
}

func TestBareHostPortURL(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/health": answer(200, `{"jobs":{},"workers":{}}`),
	})
	hostPort := strings.TrimPrefix(f.srv.URL, "http://")
	r := runSluice(context.Background(), "", "health", "echo", "--url", hostPort)
	if r.code != 0 || len(f.requests()) != 1 {
		t.Errorf("--url %s: exit %d, stderr %q", hostPort, r.code, r.errOut)
	}
}

func TestWait(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/status-sync/ok": sequence(
			`{"id":"ok","status":"IN_QUEUE"}`,
			`{"id":"ok","status":"IN_PROGRESS","output":{"pct":50}}`,
			`{"id":"ok","status":"COMPLETED","delayTime":10,"executionTime":20,"output":{"text":"hi"}}`),
		"GET /v2/echo/status-sync/bad":  answer(200, `{"id":"bad","status":"FAILED","error":"boom"}`),
		"GET /v2/echo/status-sync/gone": answer(200, `{"id":"gone","status":"CANCELLED"}`),
	})
	f.sluice(t, "", "wait", "echo", "ok").check(t, 0, `{"text":"hi"}`+"\n", "")
	f.sluice(t, "", "wait", "echo", "ok", "--json").
		check(t, 0, `{"id":"ok","status":"COMPLETED","delayTime":10,"executionTime":20,"output":{"text":"hi"}}`+"\n", "")
	f.sluice(t, "", "wait", "echo", "bad").check(t, 3, "", "sluice: job bad FAILED: boom\n")
	f.sluice(t, "", "wait", "echo", "bad", "--json").
		check(t, 3, `{"id":"bad","status":"FAILED","error":"boom"}`+"\n", "sluice: job bad FAILED: boom\n")
	f.sluice(t, "", "wait", "echo", "gone").check(t, 3, "", "sluice: job gone CANCELLED\n")
	f.sluice(t, "", "wait", "echo", "nope").check(t, 1, "",
		"sluice: wait job nope: not found (404): no such route in the fake\n")
	for _, r := range f.requests() {
		if r.method != "GET" || (r.query != "wait=10000" && !strings.HasSuffix(r.path, "/status/nope")) {
			t.Errorf("request %s %s?%s", r.method, r.path, r.query)
		}
	}
}

func TestWaitTimeout(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/status-sync/slow": answer(200, `{"id":"slow","status":"IN_PROGRESS"}`),
	})
	f.sluice(t, "", "wait", "echo", "slow", "--timeout", "300ms").check(t, 4, "",
		"sluice: job slow still IN_PROGRESS after 300ms; it goes on (sluice wait echo slow; sluice cancel echo slow)\n")
}

// TestRunsyncTimeoutID: a runsync whose answer is still held when --timeout
// runs out names the job from the X-Request-Id header sent before the wait.
func TestRunsyncTimeoutID(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/runsync": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "sync-held")
			w.WriteHeader(200)
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done() // the wait outlasts the client's --timeout
		},
	})
	f.sluice(t, "", "runsync", "echo", "{}", "--timeout", "300ms").check(t, 4, "",
		"sluice: job sync-held not finished after 300ms; it goes on (sluice wait echo sync-held; sluice cancel echo sync-held)\n")
}

func TestWaitInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/status-sync/j": func(w http.ResponseWriter, r *http.Request) {
			cancel() // the user presses Ctrl-C while the long poll is held
			<-r.Context().Done()
		},
	})
	runSluice(ctx, "", "wait", "echo", "j", "--url", f.srv.URL).check(t, 130, "",
		"sluice: interrupted; job j goes on (sluice wait echo j; sluice cancel echo j)\n")
}

func TestRunsync(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/runsync":             answer(200, `{"id":"sync-1","status":"IN_PROGRESS"}`),
		"GET /v2/echo/status-sync/sync-1":   answer(200, `{"id":"sync-1","status":"COMPLETED","output":[1,2]}`),
		"POST /v2/fail/runsync":             answer(200, `{"id":"sync-2","status":"FAILED","error":"no GPU"}`),
		"POST /v2/big/runsync":              answer(413, `{"error":"request body over 20 MiB"}`),
		"GET /v2/echo/status-sync/not-used": answer(500, `{}`),
	})
	f.sluice(t, "", "runsync", "echo", `{"x":1}`).check(t, 0, "[1,2]\n", "")
	f.sluice(t, "", "runsync", "fail", `{"x":1}`).check(t, 3, "", "sluice: job sync-2 FAILED: no GPU\n")
	f.sluice(t, "", "runsync", "big", `{"x":1}`).check(t, 1, "",
		"sluice: runsync on big: too large (413): request body over 20 MiB\n")
	if body := string(f.requests()[0].body); body != `{"input":{"x":1}}` {
		t.Errorf("runsync body %s", body)
	}
}

func TestStatus(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/status/done": answer(200,
			`{"id":"done","status":"COMPLETED","delayTime":1200,"executionTime":65000,"workerId":"w-1","output":{"a":[1, 2]}}`),
		"GET /v2/echo/status/busy":  answer(200, `{"id":"busy","status":"IN_PROGRESS","delayTime":5,"output":{"step":2}}`),
		"GET /v2/echo/status/bad":   answer(200, `{"id":"bad","status":"FAILED","retries":2,"error":"line one\nline two"}`),
		"GET /v2/echo/status/nope":  answer(404, `{"error":"job nope not found"}`),
		"GET /v2/echo/status/nokey": answer(401, `{"error":"missing API key"}`),
	})
	f.sluice(t, "", "status", "echo", "done").check(t, 0,
		"job      done\nstatus   COMPLETED\nqueued   1.2s\nrunning  1m05s\nworker   w-1\noutput   {\"a\":[1,2]}\n", "")
	f.sluice(t, "", "status", "echo", "busy").check(t, 4,
		"job       busy\nstatus    IN_PROGRESS\nqueued    5ms\nprogress  {\"step\":2}\n", "")
	f.sluice(t, "", "status", "echo", "bad").check(t, 3,
		"job      bad\nstatus   FAILED\nretries  2\nerror    line one line two\n", "")
	f.sluice(t, "", "status", "echo", "busy", "--json").check(t, 4,
		`{"id":"busy","status":"IN_PROGRESS","delayTime":5,"output":{"step":2}}`+"\n", "")
	f.sluice(t, "", "status", "echo", "nope").check(t, 1, "",
		"sluice: status job nope: not found (404): job nope not found\n")
	f.sluice(t, "", "status", "echo", "nokey").check(t, 1, "",
		"sluice: status job nokey: unauthorized (401): missing API key (set $SLUICE_API_KEY or --api-key)\n")
}

func TestStream(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/llm/stream/j": sequence(
			`{"id":"j","status":"IN_PROGRESS","stream":[{"output":"Once "},{"output":"upon"}]}`,
			`{"id":"j","status":"IN_PROGRESS","stream":[]}`,
			`{"id":"j","status":"COMPLETED","stream":[{"output":{"done":true}}]}`,
			`{"id":"j","status":"COMPLETED","stream":[]}`),
		"GET /v2/llm/status/j": answer(200, `{"id":"j","status":"COMPLETED"}`),
		"GET /v2/llm/stream/f": sequence(
			`{"id":"f","status":"IN_PROGRESS","stream":[{"output":"partial"}]}`,
			`{"id":"f","status":"FAILED","stream":[]}`),
		"GET /v2/llm/status/f": answer(200, `{"id":"f","status":"FAILED","error":"CUDA out of memory"}`),
	})
	f.sluice(t, "", "stream", "llm", "j").check(t, 0, "\"Once \"\n\"upon\"\n{\"done\":true}\n", "")
	f.mu.Lock()
	f.routes["GET /v2/llm/stream/j"] = sequence(
		`{"id":"j","status":"IN_PROGRESS","stream":[{"output":"Once "},{"output":"upon"}]}`,
		`{"id":"j","status":"COMPLETED","stream":[{"output":" a time"},{"output":3}]}`,
		`{"id":"j","status":"COMPLETED","stream":[]}`)
	f.mu.Unlock()
	f.sluice(t, "", "stream", "llm", "j", "--text").check(t, 0, "Once upon a time3\n", "")
	f.mu.Lock()
	f.routes["GET /v2/llm/stream/j"] = sequence(
		`{"id":"j","status":"IN_PROGRESS","stream":[{"output":"Once "},{"output":"upon"}]}`,
		`{"id":"j","status":"COMPLETED","stream":[{"output":" a time"},{"output":3}]}`,
		`{"id":"j","status":"COMPLETED","stream":[]}`)
	f.mu.Unlock()
	f.sluice(t, "", "stream", "llm", "j", "--text", "--json").check(t, 0, "\"Once \"\n\"upon\"\n\" a time\"\n3\n", "")
	f.sluice(t, "", "stream", "llm", "f").check(t, 3, "\"partial\"\n", "sluice: job f FAILED: CUDA out of memory\n")
	f.sluice(t, "", "stream", "llm", "x").check(t, 1, "",
		"sluice: stream job x: not found (404): no such route in the fake\n")
}

func TestCancelRetryHealthPurge(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /v2/echo/cancel/j": answer(200, `{"id":"j","status":"CANCELLED"}`),
		"POST /v2/echo/retry/j":  answer(200, `{"id":"j","status":"IN_QUEUE"}`),
		"POST /v2/echo/retry/k":  answer(409, `{"error":"job k is COMPLETED; only FAILED or TIMED_OUT jobs can be retried"}`),
		"GET /v2/echo/health": answer(200,
			`{"jobs":{"completed":1,"failed":5,"inProgress":0,"inQueue":2,"retried":0},"workers":{"idle":1,"running":2}}`),
		"POST /v2/echo/purge-queue": answer(200, `{"removed":4,"status":"completed"}`),
	})
	f.sluice(t, "", "cancel", "echo", "j").check(t, 0, "j CANCELLED\n", "")
	f.sluice(t, "", "retry", "echo", "j").check(t, 0, "j\n", "")
	f.sluice(t, "", "retry", "echo", "k").check(t, 1, "",
		"sluice: retry job k: conflict (409): job k is COMPLETED; only FAILED or TIMED_OUT jobs can be retried\n")
	f.sluice(t, "", "health", "echo").check(t, 0,
		"jobs     in queue 2  in progress 0  completed 1  failed 5  retried 0\n"+
			"workers  idle 1  running 2  initializing 0  ready 0  throttled 0  unhealthy 0\n", "")
	f.sluice(t, "", "health", "echo", "--json").check(t, 0,
		`{"jobs":{"completed":1,"failed":5,"inProgress":0,"inQueue":2,"retried":0},"workers":{"idle":1,"running":2}}`+"\n", "")
	f.sluice(t, "", "purge", "echo").check(t, 0, "removed 4 queued job(s)\n", "")
	var got []string
	for _, r := range f.requests() {
		got = append(got, r.method+" "+r.path)
	}
	want := "POST /v2/echo/cancel/j|POST /v2/echo/retry/j|POST /v2/echo/retry/k|GET /v2/echo/health|GET /v2/echo/health|POST /v2/echo/purge-queue"
	if strings.Join(got, "|") != want {
		t.Errorf("requests\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func TestWorkersAndEndpoints(t *testing.T) {
	started := time.Now().Add(-90 * time.Minute).UTC().Format(time.RFC3339)
	long := strings.Repeat("x", 30)
	workers := `{"workers":[` +
		`{"id":"w-1","endpoint":"echo","status":"RUNNING","pid":7,"gpus":["0","1"],"jobs":["j1","j2","j3"],"startedAt":"` + started + `"},` +
		`{"id":"w-` + long + `","endpoint":"echo","status":"IDLE","pid":42,"startedAt":"` + started + `","isStale":false},` +
		`{"id":"w-3","endpoint":"echo","status":"EXITED","startedAt":"` + started + `","exitedAt":"` + started + `","exit":"exit status 1: fitness check failed: gpu: no CUDA device"}]}`
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/workers": answer(200, workers),
		"GET /v2/endpoints": answer(200, `{"endpoints":[`+
			`{"id":"echo","managed":true,"workersMin":0,"workersMax":3,"workers":1,"inQueue":4,"inProgress":1,"executionTimeoutMs":600000},`+
			`{"id":"llm","managed":false,"workersMin":1,"workersMax":1,"workers":0,"inQueue":0,"inProgress":0,"executionTimeoutMs":0}]}`),
		"GET /v2/none/workers": answer(200, `[]`),
	})
	r := f.sluice(t, "", "workers", "echo")
	r.check(t, 0, ""+
		"ID                    STATUS   JOB    GPUS  UPTIME  LAST EXIT\n"+
		"w-1                   RUNNING  j1 +2  0,1   1h30m   -\n"+
		"w-xxxxxxxxxxxxxxxxx…  IDLE     -      -     1h30m   -\n"+
		"w-3                   EXITED   -      -     -       exit status 1: fitness…\n", "")
	for _, line := range strings.Split(r.out, "\n") {
		if n := utf8.RuneCountInString(line); n > listingWidth {
			t.Errorf("line of %d characters, want at most %d: %q", n, listingWidth, line)
		}
	}
	f.sluice(t, "", "endpoints").check(t, 0, ""+
		"ID    MANAGED  WORKERS  MIN-MAX  IN QUEUE  IN PROGRESS\n"+
		"echo  yes      1        0-3      4         1\n"+
		"llm   no       0        1-1      0         0\n", "")
	// -o wide: every field, as columns.
	r = f.sluice(t, "", "workers", "echo", "-o", "wide")
	if head, _, _ := strings.Cut(r.out, "\n"); r.code != 0 ||
		strings.Join(strings.Fields(head), " ") != "ID STATUS ENDPOINT EXIT EXITEDAT GPUS ISSTALE JOBS PID STARTEDAT" {
		t.Errorf("workers -o wide: exit %d, header %q", r.code, head)
	}
	if !strings.Contains(r.out, "exit status 1: fitness check failed: gpu: no CUDA device") {
		t.Errorf("workers -o wide lacks the whole exit: %q", r.out)
	}
	f.sluice(t, "", "workers", "echo", "-o", "yaml").check(t, 1, "", "sluice: -o \"yaml\": want wide (or --json)\n")
	f.sluice(t, "", "workers", "none").check(t, 0, "(none)\n", "")
	f.sluice(t, "", "endpoints", "--json").check(t, 0, `{"endpoints":[`+
		`{"id":"echo","managed":true,"workersMin":0,"workersMax":3,"workers":1,"inQueue":4,"inProgress":1,"executionTimeoutMs":600000},`+
		`{"id":"llm","managed":false,"workersMin":1,"workersMax":1,"workers":0,"inQueue":0,"inProgress":0,"executionTimeoutMs":0}]}`+"\n", "")
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12*time.Minute + 59*time.Second: "12m",
		3*time.Hour + 5*time.Minute: "3h05m", 52 * time.Hour: "2d4h",
	} {
		if got := formatAge(d); got != want {
			t.Errorf("formatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestLogs(t *testing.T) {
	f := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /v2/echo/logs": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("follow") == "1" {
				w.Header().Set("Content-Type", "text/event-stream")
				io := "data: {\"ts\":\"2026-11-27T13:00:00.5Z\",\"endpoint\":\"echo\",\"worker\":\"w-1\",\"stream\":\"stderr\",\"job\":\"j1\",\"line\":\"warming up\"}\n\n" +
					": keep-alive\n\n" +
					"data: {\"ts\":\"2026-11-27T13:00:01Z\",\"endpoint\":\"echo\",\"worker\":\"w-1\",\"stream\":\"stdout\",\"line\":\"ready\"}\n\n" +
					"event: end\ndata: {}\n\n"
				_, _ = w.Write([]byte(io))
				return
			}
			jsonReply(w, 200, `{"endpoint":"echo","lines":[{"ts":"2026-11-27T13:00:00Z","endpoint":"echo","worker":"w-1","stream":"stdout","job":"j1","line":"hello"}]}`)
		},
	})
	f.sluice(t, "", "logs", "echo", "--job", "j1", "--worker", "w-1", "--tail", "5").
		check(t, 0, "2026-11-27 13:00:00.000 w-1 [j1] hello\n", "")
	f.sluice(t, "", "logs", "echo", "--follow", "--tail", "-1").check(t, 0,
		"2026-11-27 13:00:00.500 w-1 [j1] stderr: warming up\n2026-11-27 13:00:01.000 w-1 ready\n", "")
	f.sluice(t, "", "logs", "echo", "-f", "--json").check(t, 0,
		`{"ts":"2026-11-27T13:00:00.5Z","endpoint":"echo","worker":"w-1","stream":"stderr","job":"j1","line":"warming up"}`+"\n"+
			`{"ts":"2026-11-27T13:00:01Z","endpoint":"echo","worker":"w-1","stream":"stdout","line":"ready"}`+"\n", "")
	reqs := f.requests()
	want := []string{"job=j1&tail=5&worker=w-1", "follow=1&tail=0", "follow=1"}
	for i, r := range reqs {
		if r.query != want[i] {
			t.Errorf("request %d query %q, want %q", i, r.query, want[i])
		}
	}
}

func TestFormatLogLine(t *testing.T) {
	cases := map[string]string{
		`{"ts":"2026-11-27T13:00:00Z","worker":"w","job":"j","stream":"stdout","line":"{\"requestId\": \"j\", \"message\": \"Started.\", \"level\": \"INFO\"}"}`: "2026-11-27 13:00:00.000 w [j] INFO Started.",
		`{"ts":"not a time","worker":"w","line":"{\"message\":\"m\"}"}`:                                                                                          "not a time w m",
		`{"worker":"w","line":"{not json"}`:                        "w {not json",
		`{"time":"t","workerId":"w","msg":"hi","source":"stderr"}`: "t w stderr: hi",
		`{"other": 1}`:    `{"other":1}`,
		`plain text line`: "plain text line",
		`{"line": ""}`:    `{"line":""}`,
		`{broken json`:    "{broken json",
	}
	for in, want := range cases {
		if got := formatLogLine(in); got != want {
			t.Errorf("formatLogLine(%s)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestCopyLogsPlainText(t *testing.T) {
	var b strings.Builder
	if err := copyLogs(&b, strings.NewReader("one\r\ntwo\nthree"), "text/plain", false); err != nil {
		t.Fatal(err)
	}
	if b.String() != "one\ntwo\nthree\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"status", "echo"}, "sluice: status takes 2 arguments, ENDPOINT JOB_ID (got 1)\nRun 'sluice status --help' for usage.\n"},
		{[]string{"run"}, "sluice: run takes 1 or 2 arguments, ENDPOINT [INPUT] (got 0)\nRun 'sluice run --help' for usage.\n"},
		{[]string{"health"}, "sluice: health takes 1 argument, ENDPOINT (got 0)\nRun 'sluice health --help' for usage.\n"},
		{[]string{"endpoints", "x"}, "sluice: endpoints takes no arguments (got 1)\nRun 'sluice endpoints --help' for usage.\n"},
		{[]string{"wait", "a", "b", "--timeout", "soon"}, "sluice: invalid argument \"soon\" for \"--timeout\" flag: time: invalid duration \"soon\"\nRun 'sluice wait --help' for usage.\n"},
		{[]string{"run", "--nope"}, "sluice: unknown flag: --nope\nRun 'sluice run --help' for usage.\n"},
		{[]string{"frobnicate"}, "sluice: unknown command \"frobnicate\" for \"sluice\"\nRun 'sluice --help' for usage.\n"},
	}
	for _, tc := range cases {
		runSluice(context.Background(), "", tc.args...).check(t, 2, "", tc.err)
	}
}

func TestConnectionRefusedHint(t *testing.T) {
	f := newFakeServer(t, nil)
	url := f.srv.URL
	f.srv.Close()                                                         // nothing listens there now
	r := runSluice(context.Background(), "", "run", "echo", "--url", url) // POST: not retried
	if r.code != 1 || !strings.Contains(r.errOut, "connection refused") || !strings.HasSuffix(r.errOut,
		"(is the server running at "+url+"? set --url or $SLUICE_URL)\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.errOut)
	}
}

func TestHelpReadsWell(t *testing.T) {
	r := runSluice(context.Background(), "", "--help")
	for _, want := range []string{"Client commands", "SLUICE_URL", "RUNPOD_API_KEY", "Exit codes", "runsync", "sluice run echo"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("sluice --help lacks %q", want)
		}
	}
	for _, cmd := range []string{"run", "runsync", "status", "wait", "stream", "cancel", "retry", "health", "purge", "logs", "workers", "endpoints", "jobs", "job"} {
		r := runSluice(context.Background(), "", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.out, "Examples:") || !strings.Contains(r.out, "--url") || !strings.Contains(r.out, "--json") {
			t.Errorf("sluice %s --help: exit %d, missing examples or connection flags:\n%s", cmd, r.code, r.out)
		}
	}
}

// TestListingColumnsFit100: a row with every cell longer than its column
// still prints in 100 characters, for both listings.
func TestListingColumnsFit100(t *testing.T) {
	long := strings.Repeat("é", 200)
	started := time.Now().Add(-1000 * time.Hour).UTC().Format(time.RFC3339)
	rows := `[{"id":"` + long + `","status":"` + long + `","jobs":["` + long + `","b"],"gpus":["` + long + `"],` +
		`"startedAt":"` + started + `","exit":"` + long + `","workersMin":123456789,"workersMax":123456789,` +
		`"managed":true,"workers":123456789012,"inQueue":123456789012,"inProgress":123456789012}]`
	for name, cols := range map[string][]column{"workers": workerColumns, "endpoints": endpointColumns} {
		var b strings.Builder
		if err := writeColumns(&b, json.RawMessage(rows), cols); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if n := utf8.RuneCountInString(line); n > listingWidth || n < 40 {
				t.Errorf("%s: line of %d characters, want 40 to %d: %q", name, n, listingWidth, line)
			}
		}
	}
}
