package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// sluiceBin is `sluice`, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	testutil.MainWith(m, func() (func(), error) {
		dir, err := os.MkdirTemp("", "sluice-openai-")
		if err != nil {
			return nil, err
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		const pkg = "github.com/sluicehq/sluice/cmd/sluice"
		built, err := testutil.BuildBinaries(dir, pkg)
		if err != nil {
			return cleanup, err
		}
		sluiceBin = built[pkg]
		return cleanup, nil
	})
}

// Keys of the test server: a top-level key, and one key per endpoint.
const (
	topKey   = "top-key"
	llmKey   = "llm-key"
	otherKey = "other-key"
	model    = "sluice/fake-llm"
	// latencyRuns is how many streams measure the relay latency, through
	// the OpenAI route and, interleaved, through /run + /stream.
	latencyRuns = 20
)

// openaiPython is the venv's python with runpod-python and the openai
// package (scripts/deps.sh installs both); without them the test fails in
// CI and is skipped elsewhere.
func openaiPython(t *testing.T) string {
	t.Helper()
	python := testutil.RunpodPython(t)
	if out, err := exec.Command(python, "-c", "import openai, sys; sys.exit(openai.__version__ != '3.51.0')").CombinedOutput(); err != nil {
		if testutil.InCI() {
			t.Fatalf("openai==3.51.0 is not installed next to runpod-python: %v %s (scripts/deps.sh installs it)", err, out)
		}
		t.Skipf("openai==3.51.0 is not installed next to runpod-python (%v); scripts/deps.sh installs it", err)
	}
	return python
}

// serve runs `sluice serve` with an endpoint "llm" whose worker is the fake
// worker-vllm (unmodified runpod-python), and an endpoint "other" with its
// own key. It returns the server's URL; the server is stopped at cleanup.
func serve(t *testing.T, python string) string {
	t.Helper()
	dir := t.TempDir()
	worker, err := filepath.Abs(filepath.Join("testdata", "fake_vllm_worker.py"))
	testutil.NoErr(t, err)
	cfg := fmt.Sprintf(`apiKeys: [%s]
pingIntervalMs: 1000
endpoints:
  - id: llm
    command: [%q, %q]
    workersMax: 1
    idleTimeout: 120
    apiKeys: [%s]
    env: {PYTHONUNBUFFERED: "1", TOKEN_INTERVAL: "0.05", FAKE_MODEL: %q}
  - id: other
    apiKeys: [%s]
`, topKey, python, worker, llmKey, model, otherKey)
	path := filepath.Join(dir, "sluice.yaml")
	testutil.NoErr(t, os.WriteFile(path, []byte(cfg), 0o600))
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	testutil.StartServe(t, sluiceBin, "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--config", path)
	url := "http://" + addr
	testutil.WaitFor(t, 30*time.Second, "sluice serve answers", func() bool {
		code, _ := call(t, http.MethodGet, url+"/v2/llm/health", topKey, "")
		return code == http.StatusOK
	})
	return url
}

// call sends one request and returns its status and body.
func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	testutil.NoErr(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testutil.NoErr(t, err)
	return resp.StatusCode, b
}

// sdkResult is what testdata/openai_client.py prints.
type sdkResult struct {
	SDKVersion string `json:"sdk_version"`
	Chat       struct {
		Content, Object, Model string
		FinishReason           string `json:"finish_reason"`
		TotalTokens            int    `json:"total_tokens"`
	}
	ChatStream struct {
		Content      string
		Chunks       int
		Roles        []string
		FinishReason string `json:"finish_reason"`
	} `json:"chat_stream"`
	Latency struct {
		FirstToken       []float64 `json:"first_token"`
		AllChunks        []float64 `json:"all_chunks"`
		NativeFirstToken []float64 `json:"native_first_token"`
		NativeAllChunks  []float64 `json:"native_all_chunks"`
	} `json:"latency_ms"`
	Completion struct {
		Text, Object string
	}
	CompletionStream string   `json:"completion_stream"`
	Models           []string `json:"models"`
	Error            struct {
		Status        int
		Message, Type string
	}
	StreamError struct{ Status int } `json:"stream_error"`
	BadKey      struct {
		Status int
		Code   string
	} `json:"bad_key"`
	Abandoned struct {
		JobID  string `json:"job_id"`
		Chunks int
	}
}

// TestOpenAISDK runs the real openai Python package against `sluice serve`
// and an unmodified runpod-python worker on worker-vllm's contract: chat,
// chat streaming (relay latency recorded), completions (plain and
// streamed), models, a worker error (404 model), a bad key, and a stream
// the client abandons, whose job must end CANCELLED.
func TestOpenAISDK(t *testing.T) {
	python := openaiPython(t)
	url := serve(t, python)
	base := url + "/v2/llm/openai/v1"
	ctx := testutil.Context(t, 5*time.Minute)
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "openai_client.py"), base, llmKey, model, strconv.Itoa(latencyRuns))
	stdout, stderr, code, err := testutil.Run(cmd)
	if err != nil || code != 0 {
		t.Fatalf("openai_client.py: exit %d, %v\nstderr:\n%s\nstdout:\n%s", code, err, stderr, stdout)
	}
	var got sdkResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("openai_client.py output %q: %v", stdout, err)
	}
	const words = "one two three four"
	if got.SDKVersion != "3.51.0" {
		t.Errorf("openai SDK version %q, want 3.51.0", got.SDKVersion)
	}
	if got.Chat.Content != words || got.Chat.FinishReason != "stop" || got.Chat.Object != "chat.completion" || got.Chat.Model != model || got.Chat.TotalTokens != 8 {
		t.Errorf("chat: %+v", got.Chat)
	}
	// A role chunk, four content chunks, the finish chunk.
	if got.ChatStream.Content != words || got.ChatStream.Chunks != 6 || !slices.Equal(got.ChatStream.Roles, []string{"assistant"}) || got.ChatStream.FinishReason != "stop" {
		t.Errorf("chat stream: %+v", got.ChatStream)
	}
	if got.Completion.Text != "alpha beta gamma" || got.Completion.Object != "text_completion" {
		t.Errorf("completion: %+v", got.Completion)
	}
	if got.CompletionStream != "alpha beta gamma" {
		t.Errorf("completion stream: %q", got.CompletionStream)
	}
	if !slices.Equal(got.Models, []string{model}) {
		t.Errorf("models: %v", got.Models)
	}
	if got.Error.Status != http.StatusNotFound || !strings.Contains(got.Error.Message, "The model `no-such-model` does not exist.") || got.Error.Type != "NotFoundError" {
		t.Errorf("error: %+v", got.Error)
	}
	if got.StreamError.Status != http.StatusNotFound {
		t.Errorf("stream error: %+v", got.StreamError)
	}
	if got.BadKey.Status != http.StatusUnauthorized || got.BadKey.Code != "invalid_api_key" {
		t.Errorf("bad key: %+v", got.BadKey)
	}
	if got.Abandoned.Chunks != 2 || got.Abandoned.JobID == "" {
		t.Fatalf("abandoned stream: %+v", got.Abandoned)
	}
	var status string
	testutil.WaitFor(t, 30*time.Second, "the abandoned stream's job to end CANCELLED", func() bool {
		c, b := call(t, http.MethodGet, url+"/v2/llm/status/"+got.Abandoned.JobID, topKey, "")
		var v struct{ Status string }
		if c == http.StatusOK && json.Unmarshal(b, &v) == nil {
			status = v.Status
		}
		return status == "CANCELLED"
	})

	// Per-endpoint keys: llm's key does not open "other".
	c, b := call(t, http.MethodGet, url+"/v2/other/openai/v1/models", llmKey, "")
	var e struct{ Error struct{ Code string } }
	if c != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e.Error.Code != "invalid_api_key" {
		t.Errorf("llm's key on other: HTTP %d %s", c, b)
	}

	if len(got.Latency.FirstToken) != latencyRuns || len(got.Latency.NativeFirstToken) != latencyRuns {
		t.Fatalf("latency samples: %d and %d, want %d each", len(got.Latency.FirstToken), len(got.Latency.NativeFirstToken), latencyRuns)
	}
	t.Logf("relay latency, worker yield to client (ms), %d interleaved pairs: OpenAI route (openai SDK): first token %s, every chunk (n=%d) %s; /run + /stream SSE (httpx): first token %s, every chunk (n=%d) %s",
		latencyRuns, summary(got.Latency.FirstToken), len(got.Latency.AllChunks), summary(got.Latency.AllChunks),
		summary(got.Latency.NativeFirstToken), len(got.Latency.NativeAllChunks), summary(got.Latency.NativeAllChunks))
}

// summary is "p50 X, p90 Y, max Z" of ms values.
func summary(ms []float64) string {
	s := slices.Clone(ms)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("p50 %.1f, p90 %.1f, max %.1f", q(0.5), q(0.9), s[len(s)-1])
}
