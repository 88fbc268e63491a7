package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/wire"
)

// testInputRun runs test_input mode in-process and returns the exit code,
// the JSON lines printed (progress and chunk lines on the side, then the
// result) and the log. It checks that stdout holds the result alone.
func testInputRun(t *testing.T, cfg Config, flagValue string) (int, []string, string) {
	t.Helper()
	var out, side, logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	code := runTestInputTo(context.Background(), &cfg, log, options{testInput: flagValue}, &out, &side)
	if n := strings.Count(out.String(), "\n"); n > 1 || (n == 1) != json.Valid([]byte(out.String())) {
		t.Errorf("stdout is not one JSON result line: %q", out.String())
	}
	var lines []string
	for l := range strings.Lines(side.String() + out.String()) {
		lines = append(lines, strings.TrimSuffix(l, "\n"))
	}
	return code, lines, logs.String()
}

// executionTimeRE matches the run-dependent executionTime of a result line.
var executionTimeRE = regexp.MustCompile(`"executionTime":\d+,`)

// dropTimes removes executionTime from a result line, checking that a
// final line has one.
func dropTimes(t *testing.T, line string) string {
	t.Helper()
	if !json.Valid([]byte(line)) {
		t.Fatalf("line %q is not JSON", line)
	}
	final := strings.Contains(line, `"status":"COMPLETED"`) || strings.Contains(line, `"status":"FAILED"`)
	if final && !executionTimeRE.MatchString(line) {
		t.Errorf("final line %s has no executionTime", line)
	}
	return executionTimeRE.ReplaceAllString(line, "")
}

func echoHandler(ctx context.Context, job *Job) (any, error) {
	var in map[string]any
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	return map[string]any{"job": job.ID, "echo": in}, nil
}

func TestTestInputSuccess(t *testing.T) {
	code, lines, logs := testInputRun(t, Config{Handler: echoHandler}, `{"input": {"name": "a<b"}}`)
	if code != 0 {
		t.Fatalf("exit %d, want 0; log:\n%s", code, logs)
	}
	if len(lines) != 1 {
		t.Fatalf("printed %q, want one result line", lines)
	}
	testutil.GoldenText(t, "local_test_input_success", []byte(dropTimes(t, lines[0])))
	if !strings.Contains(logs, "Job local_test completed successfully.") {
		t.Errorf("log lacks the completion line:\n%s", logs)
	}
}

func TestTestInputKeepsGivenID(t *testing.T) {
	code, lines, _ := testInputRun(t, Config{Handler: echoHandler}, `{"id": "my-job", "input": {}}`)
	if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"job":"my-job"`) {
		t.Errorf("exit %d, lines %q; want the job to see id my-job", code, lines)
	}
}

func TestTestInputStreamsChunksAsTheyCome(t *testing.T) {
	var printedBefore []int
	var out testutil.Buffer
	cfg := Config{StreamHandler: func(ctx context.Context, job *Job) iter.Seq2[any, error] {
		return func(yield func(any, error) bool) {
			for i := range 3 {
				// Each earlier chunk is already printed when the next is made.
				printedBefore = append(printedBefore, strings.Count(out.String(), "\n"))
				if !yield(fmt.Sprintf("chunk %d", i), nil) {
					return
				}
			}
		}
	}, ReturnAggregateStream: true}
	log := slog.New(slog.NewTextHandler(&testutil.Buffer{}, nil))
	code := runTestInputTo(context.Background(), &cfg, log, options{testInput: `{"input": 1}`}, &out, &out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if fmt.Sprint(printedBefore) != "[0 1 2]" {
		t.Errorf("lines printed before each chunk %v, want [0 1 2]", printedBefore)
	}
	var got []string
	for l := range strings.Lines(out.String()) {
		got = append(got, dropTimes(t, strings.TrimSuffix(l, "\n")))
	}
	testutil.GoldenText(t, "local_test_input_stream", []byte(strings.Join(got, "\n")))
}

func TestTestInputProgress(t *testing.T) {
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		for i := 1; i <= 2; i++ {
			if err := ProgressUpdate(ctx, job, map[string]int{"percent": 50 * i}); err != nil {
				return nil, err
			}
		}
		return "done", nil
	}}
	code, lines, _ := testInputRun(t, cfg, `{"input": {}}`)
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, lines %q; want 0 and two progress lines plus the result", code, lines)
	}
	want := []string{
		`{"id":"local_test","status":"IN_PROGRESS","output":{"percent":50}}`,
		`{"id":"local_test","status":"IN_PROGRESS","output":{"percent":100}}`,
		`{"id":"local_test","status":"COMPLETED","output":"done"}`,
	}
	for i := range want {
		if got := dropTimes(t, lines[i]); got != want[i] {
			t.Errorf("line %d = %s, want %s", i, got, want[i])
		}
	}
}

func TestTestInputFailures(t *testing.T) {
	errBoom := errors.New("boom")
	calls := 0
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		calls++
		var in struct{ Mode string }
		if err := job.Decode(&in); err != nil {
			return nil, err
		}
		switch in.Mode {
		case "error":
			return nil, errBoom
		case "map":
			return map[string]any{"error": "bad input"}, nil
		case "panic":
			panic("kaboom")
		}
		return "ok", nil
	}}
	cases := []struct {
		name, input string
		handlerRuns bool
		logHas      string
	}{
		{"returned error", `{"input": {"mode": "error"}}`, true, "Captured Handler Exception"},
		{"error map", `{"input": {"mode": "map"}}`, true, "failed with error: bad input"},
		{"panic", `{"input": {"mode": "panic"}}`, true, "kaboom"},
		{"missing input", `{"id": "x"}`, false, "Job has no input parameter. Unable to run."},
		{"null input", `{"input": null}`, false, "Job has no input parameter. Unable to run."},
		{"invalid JSON", `{"input": `, false, "--test_input is not a JSON object"},
		{"not an object", `[1]`, false, "--test_input is not a JSON object"},
		{"id not a string", `{"id": 5, "input": 1}`, false, `must be a non-empty string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls = 0
			code, lines, logs := testInputRun(t, cfg, c.input)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(logs, c.logHas) {
				t.Errorf("log lacks %q:\n%s", c.logHas, logs)
			}
			if (calls > 0) != c.handlerRuns {
				t.Errorf("handler ran %d times, want ran=%v", calls, c.handlerRuns)
			}
			if c.handlerRuns {
				var final wireStatus
				if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &final) != nil || final.Status != wire.StatusFailed || final.Error == nil {
					t.Errorf("printed %q, want one FAILED line with an error", lines)
				}
			} else if len(lines) != 0 {
				t.Errorf("printed %q for input that never ran", lines)
			}
			if strings.Contains(logs, "goroutine ") && !c.handlerRuns {
				t.Errorf("log has a stack trace for bad input:\n%s", logs)
			}
		})
	}
}

func TestTestInputFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// No flag and no file: exit 1 with runpod-python's warning.
	code, _, logs := testInputRun(t, Config{Handler: echoHandler}, "")
	if code != 1 || !strings.Contains(logs, "test_input.json not found, exiting.") {
		t.Errorf("without test_input.json: exit %d, log:\n%s", code, logs)
	}
	if err := os.WriteFile(filepath.Join(dir, "test_input.json"), []byte(`{"input": {"from": "file"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, lines, logs := testInputRun(t, Config{Handler: echoHandler}, "")
	if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"echo":{"from":"file"}`) {
		t.Errorf("with test_input.json: exit %d, lines %q, log:\n%s", code, lines, logs)
	}
	// The flag wins over the file.
	_, lines, _ = testInputRun(t, Config{Handler: echoHandler}, `{"input": {"from": "flag"}}`)
	if len(lines) != 1 || !strings.Contains(lines[0], `"from":"flag"`) {
		t.Errorf("flag and file: lines %q, want the flag's input", lines)
	}
}

func TestRunDispatchesTestInput(t *testing.T) {
	t.Setenv("RUNPOD_WEBHOOK_GET_JOB", "")
	logger := slog.New(slog.NewTextHandler(&testutil.Buffer{}, nil))
	cfg := Config{Handler: echoHandler, Logger: logger}
	cfg.Args = []string{"--test_input", `{"input": {"a": 1}}`, "--unknown-flag"}
	if code := Run(context.Background(), cfg); code != 0 {
		t.Errorf("Run with a good --test_input: exit %d, want 0", code)
	}
	cfg.Args = []string{"--test_input={}"}
	if code := Run(context.Background(), cfg); code != 1 {
		t.Errorf("Run with --test_input without input: exit %d, want 1", code)
	}
}

func TestTestInputKeepsHTMLUnescaped(t *testing.T) {
	code, lines, _ := testInputRun(t, Config{Handler: func(ctx context.Context, job *Job) (any, error) {
		return job.Input, nil
	}}, `{"input": "<a href='x'>&</a>"}`)
	if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"output":"<a href='x'>&</a>"`) {
		t.Errorf("exit %d, lines %q; want the input back unescaped", code, lines)
	}
}
