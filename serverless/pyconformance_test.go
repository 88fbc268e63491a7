package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// runpodPython returns the python of a virtualenv with runpod-python
// installed ($SLUICE_VENV, else ../.venv as scripts/test.sh makes it), or
// skips the test.
func runpodPython(t *testing.T) string {
	t.Helper()
	venv := os.Getenv("SLUICE_VENV")
	if venv == "" {
		venv = filepath.Join("..", ".venv")
	}
	py, err := filepath.Abs(filepath.Join(venv, "bin", "python"))
	if err != nil {
		t.Skipf("no runpod-python virtualenv: %v", err)
	}
	if err := exec.Command(py, "-c", "import runpod").Run(); err != nil {
		t.Skipf("runpod-python not available at %s (run scripts/test.sh): %v", py, err)
	}
	return py
}

// pyRun runs a Python script with the given extra environment and returns
// its stdout.
func pyRun(t *testing.T, py, script string, env ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, path)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}

// returnCases are handler return values, as JSON, on which runJob must
// agree with runpod-python's run_job.
var returnCases = []string{
	`"hi"`, `null`, `true`, `false`, `0`, `3.5`, `[1, "a", null]`, `[]`, `{}`,
	`{"ok": true}`, `{"output": "x"}`, `{"error": "bad"}`, `{"error": "bad", "k": 1}`,
	`{"error": ""}`, `{"error": null, "k": 1}`, `{"error": 0, "n": 1}`, `{"error": []}`, `{"error": {}}`,
	`{"error": {"code": 3}}`, `{"error": [0]}`, `{"error": false}`, `{"error": true}`,
	`{"refresh_worker": true}`, `{"refresh_worker": false, "a": 1}`, `{"refresh_worker": "yes", "error": "e"}`,
	`{"refresh_worker": 0}`, `{"error": "e", "refresh_worker": 1, "a": {"b": [1, 2]}}`, `"<é & 日本>"`,
}

func TestResultMappingMatchesRunpodPython(t *testing.T) {
	py := runpodPython(t)
	casesJSON, err := json.Marshal(returnCases)
	if err != nil {
		t.Fatal(err)
	}
	out := pyRun(t, py, `
import asyncio, json
from runpod.serverless.modules import rp_job
cases = json.loads(`+pyString(string(casesJSON))+`)
async def main():
    results = []
    for c in cases:
        ret = json.loads(c)
        results.append(await rp_job.run_job(lambda job, ret=ret: ret, {"id": "j1", "input": None}))
    print(json.dumps(results))
asyncio.run(main())
`, "RUNPOD_LOG_LEVEL=NOTSET")
	var want []any
	if err := json.Unmarshal(lastLine(out), &want); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	for i, c := range returnCases {
		var ret any
		dec := json.NewDecoder(strings.NewReader(c))
		dec.UseNumber()
		if err := dec.Decode(&ret); err != nil {
			t.Fatal(err)
		}
		o := runJob(context.Background(), &Config{Handler: func(context.Context, *Job) (any, error) { return ret, nil }}, &Job{ID: "j1"}, nil)
		var got any
		if err := json.Unmarshal(o.body, &got); err != nil {
			t.Fatalf("%s: body %s: %v", c, o.body, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("return %s: Go sends %s, runpod-python %v", c, o.body, mustMarshal(t, want[i]))
		}
	}
}

func TestErrorPayloadKeysMatchRunpodPython(t *testing.T) {
	py := runpodPython(t)
	out := pyRun(t, py, `
import asyncio, json
from runpod.serverless.modules import rp_job
def handler(job):
    raise ValueError("boom")
async def main():
    r = await rp_job.run_job(handler, {"id": "j1", "input": None})
    print(json.dumps(list(r.keys())))
    print(json.dumps(list(json.loads(r["error"]).keys())))
asyncio.run(main())
`, "RUNPOD_LOG_LEVEL=NOTSET")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		t.Fatalf("python output %q", out)
	}
	o := runJob(context.Background(), &Config{Handler: func(context.Context, *Job) (any, error) {
		return nil, errors.New("boom")
	}}, &Job{ID: "j1"}, nil)
	var body map[string]string
	if err := json.Unmarshal(o.body, &body); err != nil {
		t.Fatal(err)
	}
	if got := mustMarshal(t, objectKeys(t, o.body)); got != compactJSON(t, lines[len(lines)-2]) {
		t.Errorf("body keys %s, runpod-python %s", got, lines[len(lines)-2])
	}
	if got := mustMarshal(t, objectKeys(t, []byte(body["error"]))); got != compactJSON(t, lines[len(lines)-1]) {
		t.Errorf("error payload keys %s, runpod-python %s", got, lines[len(lines)-1])
	}
}

func TestLogLinesMatchRunpodPython(t *testing.T) {
	py := runpodPython(t)
	long := strings.Repeat("x", 3000) + strings.Repeat("é", 2000)
	script := `
from runpod.serverless.modules.rp_logger import RunPodLogger
log = RunPodLogger()
log.info("test_message", "test_job_id")
log.debug("plain")
log.warn("h\u00e9llo \"q\" <tag> \U0001F600", "r1")
log.error("multi\nline\ttab")
log.trace("traced", "t1")
log.info("` + long + `", "L")
`
	goLog := func(jsonMode bool) string {
		var buf bytes.Buffer
		log := slog.New(newLogHandler(&buf, LevelTrace, jsonMode))
		log.Info("test_message", LogKeyJobID, "test_job_id")
		log.Debug("plain")
		log.Warn("héllo \"q\" <tag> 😀", LogKeyJobID, "r1")
		log.Error("multi\nline\ttab")
		log.Log(context.Background(), LevelTrace, "traced", LogKeyJobID, "t1")
		log.Info(long, LogKeyJobID, "L")
		return buf.String()
	}
	for _, jsonMode := range []bool{false, true} {
		env := []string{"RUNPOD_LOG_LEVEL=TRACE"}
		if jsonMode {
			env = append(env, "RUNPOD_ENDPOINT_ID=ep")
		}
		want := string(pyRun(t, py, script, env...))
		if got := goLog(jsonMode); got != want {
			t.Errorf("json=%v: Go log\n%.600s\nrunpod-python\n%.600s", jsonMode, got, want)
		}
	}
}

// pyString quotes s as a Python string literal (JSON strings are valid ones).
func pyString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

func lastLine(out []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return lines[len(lines)-1]
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return buf.String()
}

// objectKeys lists a JSON object's keys in order.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
