package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

var curlRE = regexp.MustCompile(`curl -s -X POST (http://\S+) -d '(.*)'`)

// TestQuickStart runs the README's first command's configuration
// (examples/sluice.yaml): serve prints a curl line; the request it shows
// starts a worker from zero, completes, and the endpoint scales back to zero
// workers after its idle timeout; the toy LLM answers on the OpenAI routes
// and the load-balancing example through /lb/web/.
func TestQuickStart(t *testing.T) {
	cfg, err := filepath.Abs(filepath.Join("..", "..", "examples", "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", t.TempDir(), []string{"SLUICE_API_KEYS="}, "--config", cfg)
	var m []string
	testutil.WaitFor(t, 10*time.Second, "serve prints the curl line", func() bool {
		m = curlRE.FindStringSubmatch(s.log.String())
		return m != nil
	})
	if !strings.HasPrefix(m[1], s.url+"/v2/echo/runsync") {
		t.Fatalf("curl line points at %s, want %s/v2/echo/runsync", m[1], s.url)
	}
	if h := s.do(t, "GET", "/v2/echo/health", "", nil).json(t)["workers"].(map[string]any); h["idle"].(float64)+h["running"].(float64)+h["initializing"].(float64) != 0 {
		t.Fatalf("workers before the first job: %v, want none", h)
	}
	// Exactly the printed command, through curl when it is installed.
	var body []byte
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("sh", "-c", m[0]).Output()
		if err != nil {
			t.Fatalf("%s: %v", m[0], err)
		}
		body = out
	} else {
		body = s.do(t, "POST", strings.TrimPrefix(m[1], s.url), "", []byte(m[2])).body
	}
	r := resp{code: 200, body: body}.json(t)
	out, err := json.Marshal(r["output"])
	if err != nil {
		t.Fatal(err)
	}
	if r["status"] != "COMPLETED" || string(out) != `{"echo":{"hello":"world"}}` {
		t.Fatalf("the quick start's job: %s", body)
	}
	// The OpenAI-compatible routes on the toy LLM (examples/openai).
	chat := `{"model": "sluice-echo", "messages": [{"role": "user", "content": "hello"}]}`
	c := s.do(t, "POST", "/v2/llm/openai/v1/chat/completions", "", []byte(chat))
	var answer struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if c.code != 200 || json.Unmarshal(c.body, &answer) != nil || len(answer.Choices) != 1 || answer.Choices[0].Message.Content != "you said: hello" {
		t.Fatalf("chat completion: %d %s", c.code, c.body)
	}
	cs := s.do(t, "POST", "/v2/llm/openai/v1/chat/completions", "", []byte(strings.Replace(chat, "{", `{"stream": true, `, 1)))
	if body := string(cs.body); cs.code != 200 || !strings.Contains(body, `"delta":{"content":" hello"}`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("streamed chat completion: %d %s", cs.code, cs.body)
	}
	// The load-balancing example (examples/loadbalancing): proxied to a
	// worker started from zero, and its event stream.
	g := s.do(t, "POST", "/lb/web/generate", "", []byte(`{"prompt": "hello"}`))
	if gen := g.json(t); g.code != 200 || gen["text"] != "you said: hello" || !strings.HasPrefix(fmt.Sprint(gen["worker"]), "web-") {
		t.Fatalf("POST /lb/web/generate: %d %s", g.code, g.body)
	}
	st := s.do(t, "GET", "/lb/web/stream?text=one+two", "", nil)
	if want := "data: {\"token\":\"one\"}\n\ndata: {\"token\":\"two\"}\n\ndata: [DONE]\n\n"; st.code != 200 || string(st.body) != want {
		t.Fatalf("GET /lb/web/stream: %d %q, want %q", st.code, st.body, want)
	}
	testutil.WaitFor(t, 60*time.Second, "the echo endpoint to scale back to zero workers", func() bool {
		w := s.do(t, "GET", "/v2/echo/health", "", nil).json(t)["workers"].(map[string]any)
		return w["idle"].(float64)+w["running"].(float64)+w["initializing"].(float64) == 0
	})
}
