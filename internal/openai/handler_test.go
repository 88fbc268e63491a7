package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	rigTopKey    = "top-key"
	rigLLMKey    = "llm-key"
	rigWorkerKey = "worker-key"
)

// rig is a real job engine (embedded NATS) behind the /v2 API with the
// OpenAI routes mounted, served on loopback; the test plays the worker
// through the engine.
type rig struct {
	url string
	eng *engine.Engine
}

func newRig(t *testing.T) *rig { return newRigWith(t, nil, nil) }

// newRigWith is newRig with tweaks applied to the engine's and the API's
// configs (nil: none).
func newRigWith(t *testing.T, engTweak func(*engine.Config), tweak func(*api.Config)) *rig {
	t.Helper()
	ecfg := engine.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Endpoints: []engine.EndpointSettings{{ID: "llm"}, {ID: "other"}, {ID: "tiny", MaxQueue: 1}}}
	if engTweak != nil {
		engTweak(&ecfg)
	}
	eng, err := engine.Open(t.Context(), ecfg)
	testutil.NoErr(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	cfg := api.Config{Engine: eng, Logger: slog.New(slog.DiscardHandler), Keys: api.Keys{
		Client:         []string{rigTopKey},
		EndpointClient: map[string][]string{"llm": {rigLLMKey}},
		Worker:         map[string]string{"llm": rigWorkerKey},
	}}
	if tweak != nil {
		tweak(&cfg)
	}
	a := api.New(cfg)
	a.Mount(Pattern, New(Config{Engine: eng, Check: a.CheckClient, BodyLimit: 4 << 10, KeepAlive: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}))
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &rig{url: srv.URL, eng: eng}
}

// take returns llm's next job, as a worker gets it.
func (r *rig) take(t *testing.T) *engine.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	jobs, err := r.eng.Take(ctx, "llm", "w1", 1)
	testutil.NoErr(t, err)
	if len(jobs) != 1 {
		t.Fatalf("took %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

// finish ends a job as runpod-python's job-done does.
func (r *rig) finish(t *testing.T, id string, res engine.Result) {
	t.Helper()
	testutil.NoErr(t, r.eng.Finish(t.Context(), "llm", "w1", id, res))
}

func (r *rig) chunk(t *testing.T, id, chunk string) {
	t.Helper()
	testutil.NoErr(t, r.eng.AppendStream(t.Context(), "llm", "w1", id, json.RawMessage(chunk)))
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

// send sends one request (key "" sends no Authorization) and reads the answer.
func (r *rig) send(ctx context.Context, method, path, key, body string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

// async sends a request in the background; the reply arrives on the channel.
func (r *rig) async(t *testing.T, method, path, body string) <-chan reply {
	t.Helper()
	ch := make(chan reply, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	go func() {
		defer cancel()
		rep, err := r.send(ctx, method, path, rigTopKey, body)
		if err != nil {
			rep = reply{body: []byte(err.Error())}
		}
		ch <- rep
	}()
	return ch
}

func receive(t *testing.T, ch <-chan reply) reply {
	t.Helper()
	select {
	case rep := <-ch:
		return rep
	case <-time.After(30 * time.Second):
		t.Fatal("no reply within 30 s")
	}
	return reply{}
}

const chatPath = "/v2/llm/openai/v1/chat/completions"

// TestChatAnswer: a chat request becomes a job whose input carries
// openai_route and openai_input; worker-vllm's aggregate output (a list
// holding the JSON answer) comes back as the body, with the job id.
func TestChatAnswer(t *testing.T) {
	r := newRig(t)
	ch := r.async(t, http.MethodPost, chatPath, `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}`)
	job := r.take(t)
	testutil.GoldenText(t, "job_input_chat", job.Input)
	answer := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`
	r.finish(t, job.ID, engine.Result{Output: json.RawMessage("[" + answer + "]")})
	rep := receive(t, ch)
	if rep.code != http.StatusOK || strings.TrimSpace(string(rep.body)) != answer {
		t.Fatalf("HTTP %d %s", rep.code, rep.body)
	}
	if rep.header.Get("X-Request-Id") != job.ID || rep.header.Get("Content-Type") != contentTypeJSON {
		t.Errorf("headers %v, job %s", rep.header, job.ID)
	}
}

// TestModelsAnswer: GET /models reaches the worker with an empty
// openai_input; a handler that returns (no generator) answers with its dict,
// and worker-sglang's JSON text lines are joined into one body.
func TestModelsAnswer(t *testing.T) {
	r := newRig(t)
	for _, output := range []string{
		`{"object":"list","data":[{"id":"m","object":"model"}]}`,
		`["{\"object\":\"list\",", "\"data\":[{\"id\":\"m\",\"object\":\"model\"}]}"]`,
	} {
		ch := r.async(t, http.MethodGet, "/v2/llm/openai/v1/models", "")
		job := r.take(t)
		testutil.GoldenText(t, "job_input_models", job.Input)
		r.finish(t, job.ID, engine.Result{Output: json.RawMessage(output)})
		rep := receive(t, ch)
		if want := `{"object":"list","data":[{"id":"m","object":"model"}]}`; rep.code != http.StatusOK || strings.TrimSpace(string(rep.body)) != want {
			t.Errorf("output %s: HTTP %d %s", output, rep.code, rep.body)
		}
	}
}

// keepAlive is the comment the relay sends while a stream is idle.
const keepAlive = ": keep-alive\n\n"

// sseEvent reads lines from br up to the end of one event, skipping
// keep-alive comments (the rig sends one every 200 ms of silence).
func sseEvent(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			if b.String() == keepAlive {
				b.Reset()
				continue
			}
			return b.String(), nil
		}
	}
}

// TestStreamRelaysEachChunk: with "stream": true each chunk reaches the
// client before the worker yields the next (the worker waits for the
// client to have it), as SSE ending with data: [DONE].
func TestStreamRelaysEachChunk(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type opened struct {
		resp *http.Response
		err  error
	}
	got := make(chan opened, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+chatPath, strings.NewReader(`{"model":"m","messages":[],"stream":true}`))
		if err != nil {
			got <- opened{nil, err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+rigTopKey)
		resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the test closes it once received
		got <- opened{resp, err}
	}()
	job := r.take(t)
	chunks := []string{
		`"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"`,
		`"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"`,
		`"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n"`,
	}
	r.chunk(t, job.ID, chunks[0])
	op := <-got
	testutil.NoErr(t, op.err)
	defer op.resp.Body.Close()
	if op.resp.StatusCode != http.StatusOK || op.resp.Header.Get("Content-Type") != contentTypeEventStream || op.resp.Header.Get("X-Request-Id") != job.ID {
		t.Fatalf("HTTP %d, headers %v", op.resp.StatusCode, op.resp.Header)
	}
	br := bufio.NewReader(op.resp.Body)
	var transcript strings.Builder
	for i := range chunks {
		if i > 0 {
			r.chunk(t, job.ID, chunks[i])
		}
		ev, err := sseEvent(br)
		testutil.NoErr(t, err)
		var want string
		testutil.NoErr(t, json.Unmarshal([]byte(chunks[i]), &want))
		if ev != want {
			t.Fatalf("event %d: %q, want %q", i, ev, want)
		}
		transcript.WriteString(ev)
	}
	r.finish(t, job.ID, engine.Result{Output: json.RawMessage("[" + strings.Join(chunks, ",") + "]")})
	rest, err := io.ReadAll(br)
	testutil.NoErr(t, err)
	transcript.WriteString(strings.ReplaceAll(string(rest), keepAlive, ""))
	testutil.Golden(t, "stream_chat", []byte(transcript.String()))
}

// TestStreamDisconnectCancels: a client that goes away mid-stream cancels
// the job.
func TestStreamDisconnectCancels(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url+chatPath, strings.NewReader(`{"model":"m","stream":true}`))
		req.Header.Set("Authorization", "Bearer "+rigLLMKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = bufio.NewReader(resp.Body).ReadString('\n')
			resp.Body.Close()
		}
		opened <- err
	}()
	job := r.take(t)
	r.chunk(t, job.ID, `{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}`)
	testutil.NoErr(t, <-opened)
	cancel()
	testutil.WaitFor(t, 20*time.Second, "the job to be CANCELLED", func() bool {
		j, err := r.eng.Get(t.Context(), "llm", job.ID)
		return err == nil && j.Status == engine.StatusCancelled
	})
}

// TestErrors: every refusal and failure in OpenAI's error shape, with its
// status and headers (golden transcript).
func TestErrors(t *testing.T) {
	r := newRig(t)
	var tr bytes.Buffer
	ctx := t.Context()
	add := func(label string, rep reply, id string) {
		body := strings.TrimSpace(strings.ReplaceAll(string(rep.body), keepAlive, ""))
		if id != "" {
			body = strings.ReplaceAll(body, id, "JOB")
		}
		var hs []string
		for _, h := range []string{"Retry-After", "Allow", "WWW-Authenticate"} {
			if v := rep.header.Get(h); v != "" {
				hs = append(hs, h+": "+v)
			}
		}
		fmt.Fprintf(&tr, "### %s -> %d %s\n%s\n", label, rep.code, strings.Join(hs, ", "), body)
		if i := bytes.LastIndex(rep.body, []byte("data: ")); i >= 0 && rep.code == http.StatusOK {
			rep.body = rep.body[i+len("data: "):] // a stream that failed: its last event
		}
		var e errorBody
		if err := json.Unmarshal(rep.body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Errorf("%s: not OpenAI's error shape: %s", label, rep.body)
		}
	}
	plain := func(label, method, path, key, body string) {
		rep, err := r.send(ctx, method, path, key, body)
		testutil.NoErr(t, err)
		add(label, rep, "")
	}
	plain("no key", http.MethodGet, "/v2/llm/openai/v1/models", "", "")
	plain("wrong key", http.MethodGet, "/v2/llm/openai/v1/models", "nope", "")
	plain("worker key", http.MethodGet, "/v2/llm/openai/v1/models", rigWorkerKey, "")
	plain("llm's key on other", http.MethodGet, "/v2/other/openai/v1/models", rigLLMKey, "")
	plain("unknown endpoint", http.MethodGet, "/v2/nope/openai/v1/models", rigTopKey, "")
	plain("unknown route", http.MethodPost, "/v2/llm/openai/v1/audio/speech", rigTopKey, "{}")
	plain("wrong method", http.MethodGet, chatPath, rigTopKey, "")
	plain("bad JSON", http.MethodPost, chatPath, rigTopKey, `{"model":`)
	plain("not an object", http.MethodPost, chatPath, rigTopKey, `[1]`)
	plain("empty body", http.MethodPost, chatPath, rigTopKey, ``)
	plain("stream not a bool", http.MethodPost, chatPath, rigTopKey, `{"stream":"yes"}`)
	plain("too large", http.MethodPost, chatPath, rigTopKey, `{"prompt":"`+strings.Repeat("x", 5<<10)+`"}`)
	// tiny holds one queued job: the second request is refused.
	r.async(t, http.MethodPost, "/v2/tiny/openai/v1/completions", `{"prompt":"x","stream":true}`)
	testutil.WaitFor(t, 20*time.Second, "tiny's first job queued", func() bool {
		h, err := r.eng.Health(ctx, "tiny")
		return err == nil && h.Jobs.InQueue == 1
	})
	plain("queue full", http.MethodPost, "/v2/tiny/openai/v1/completions", rigTopKey, `{"prompt":"x"}`)

	failed := func(label, body, errValue string, chunks ...string) {
		ch := r.async(t, http.MethodPost, chatPath, body)
		job := r.take(t)
		for _, c := range chunks {
			r.chunk(t, job.ID, c)
		}
		r.finish(t, job.ID, engine.Result{Error: json.RawMessage(errValue)})
		add(label, receive(t, ch), job.ID)
	}
	failed("worker error (vLLM's ErrorResponse via runpod-python)", `{"model":"x"}`,
		`"{'message': 'The model `+"`x`"+` does not exist.', 'type': 'NotFoundError', 'param': 'model', 'code': 404}"`)
	failed("worker-vllm proxy error", `{"model":"x"}`,
		`"{'message': 'vLLM returned HTTP 400: {\"detail\": \"bad\"}', 'type': 'worker_error', 'code': None}"`)
	failed("handler exception", `{"model":"x"}`, `"handler: boom \ntraceback: Traceback (most recent call last): ..."`)
	failed("stream fails before a chunk", `{"model":"x","stream":true}`, `"{'message': 'no', 'type': 'BadRequestError', 'code': 400}"`)
	failed("stream fails after a chunk", `{"model":"x","stream":true}`, `"handler: boom"`,
		`"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"`)

	ch := r.async(t, http.MethodPost, chatPath, `{"model":"x"}`)
	job := r.take(t)
	_, err := r.eng.Cancel(ctx, "llm", job.ID)
	testutil.NoErr(t, err)
	add("job cancelled by /cancel", receive(t, ch), job.ID)

	ch = r.async(t, http.MethodPost, chatPath, `{"model":"x"}`)
	job = r.take(t)
	r.finish(t, job.ID, engine.Result{Output: json.RawMessage(`[{"a":1},{"b":2}]`)})
	add("worker answers twice", receive(t, ch), job.ID)

	ch = r.async(t, http.MethodPost, chatPath, `{"model":"x"}`)
	job = r.take(t)
	r.finish(t, job.ID, engine.Result{Output: json.RawMessage(`[{"object":"error","message":"bad temperature","type":"BadRequestError","param":"temperature","code":400}]`)})
	add("vLLM's older flat ErrorResponse as output", receive(t, ch), job.ID)

	testutil.GoldenText(t, "errors", tr.Bytes())
}

// TestRateLimited: the config's "*" rate limit covers the OpenAI routes:
// over it the answer is 429 with Retry-After, in OpenAI's shape.
func TestRateLimited(t *testing.T) {
	// The "*" limit covers these routes, and so does a limit of their own.
	for _, route := range []string{ratelimit.Any, RateRoute} {
		t.Run(route, func(t *testing.T) {
			r := newRigWith(t, nil, func(c *api.Config) {
				c.Limiter = ratelimit.New(config.RateLimits{route: {PerSecond: 0.01, Burst: 1}}, nil)
			})
			first, err := r.send(t.Context(), http.MethodGet, "/v2/llm/openai/v1/nope", rigTopKey, "")
			testutil.NoErr(t, err)
			second, err := r.send(t.Context(), http.MethodGet, "/v2/llm/openai/v1/nope", rigTopKey, "")
			testutil.NoErr(t, err)
			var e errorBody
			if first.code != http.StatusNotFound || second.code != http.StatusTooManyRequests || second.header.Get("Retry-After") == "" ||
				json.Unmarshal(second.body, &e) != nil || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" {
				t.Fatalf("first %d %s; second %d %v %s", first.code, first.body, second.code, second.header, second.body)
			}
		})
	}
}

// TestStreamWorkerLost: a worker lost mid-stream sends its job back to the
// queue, to start again from nothing; the client's stream ends with a
// worker_lost error event instead of repeating tokens, and the job is
// cancelled.
func TestStreamWorkerLost(t *testing.T) {
	r := newRigWith(t, func(c *engine.Config) {
		c.PingInterval, c.WorkerLostAfter, c.ReaperInterval = 100*time.Millisecond, 300*time.Millisecond, 50*time.Millisecond
	}, nil)
	ch := r.async(t, http.MethodPost, chatPath, `{"model":"m","stream":true}`)
	job := r.take(t)
	r.chunk(t, job.ID, `{"n":1}`)
	// w1 stops pinging: the reaper finds it lost and requeues the job.
	rep := receive(t, ch)
	data := sseData(t, strings.ReplaceAll(string(rep.body), keepAlive, ""))
	if rep.code != http.StatusOK || len(data) != 2 || data[0] != `{"n":1}` || !strings.Contains(data[1], `"code":"worker_lost"`) {
		t.Fatalf("HTTP %d %q", rep.code, data)
	}
	testutil.WaitFor(t, 20*time.Second, "the job to be CANCELLED", func() bool {
		j, err := r.eng.Get(t.Context(), "llm", job.ID)
		return err == nil && j.Status == engine.StatusCancelled
	})
}
