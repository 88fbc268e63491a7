package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/wire"
)

// localLine is a line of the test_input mode's transcript on stdout (not
// an API body: it keeps the key order runpod-python prints, id and status
// first).
type localLine struct {
	ID            string          `json:"id"`
	Status        wire.Status     `json:"status"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
}

// testInputFile is read when --test_input is not given.
const testInputFile = "test_input.json"

// localTestID is the job id used in test_input mode when the job has none.
const localTestID = "local_test"

// runTestInputTo runs one job locally, from --test_input or
// ./test_input.json, and returns the process exit code: 0 when the job
// completed, 1 otherwise.
//
// Unlike runpod-python it iterates stream handlers. Its lines are JSON, each
// in the shape Runpod's API would return: one /stream-like line per chunk
// and one /status-like line per progress update on side (stderr, with the
// log), then the final /status-like line with the result alone on out
// (stdout), so `worker --test_input ... | jq .status` works.
func runTestInputTo(ctx context.Context, cfg *Config, log *slog.Logger, opts options, out, side io.Writer) int {
	job, err := loadTestJob(opts.testInput)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			log.Warn(testInputFile + " not found, exiting.")
		} else {
			log.Error(err.Error())
		}
		return 1
	}
	log.Debug("Started.", LogKeyJobID, job.ID)
	w := &lineWriter{w: side}
	started := time.Now()
	res, payload := execJob(ctx, cfg, job, execOptions{
		OnChunk: func(_ context.Context, chunk json.RawMessage) error {
			return w.line(wire.StreamView{ID: job.ID, Status: wire.StatusInProgress, Stream: []wire.StreamChunk{{Output: chunk}}})
		},
		OnProgress: func(_ context.Context, progress json.RawMessage) error {
			return w.line(localLine{ID: job.ID, Status: wire.StatusInProgress, Output: progress})
		},
	})
	if payload != nil {
		log.Error("Captured Handler Exception\n"+payload.indented(), LogKeyJobID, job.ID)
	}
	final := localLine{ID: job.ID, Status: wire.StatusCompleted, ExecutionTime: millis(time.Since(started)), Output: res.Output}
	if res.Failed {
		final.Status, final.Output = wire.StatusFailed, nil
		final.Error = jsonField(res.Body, "error")
	}
	if err := (&lineWriter{w: out}).line(final); err != nil {
		log.Error(err.Error())
		return 1
	}
	if res.StopPod {
		log.Info("Job asked for a worker refresh (stopPod); the platform would replace this worker.", LogKeyJobID, job.ID)
	}
	if res.Failed {
		log.Error(fmt.Sprintf("Job %s failed with error: %s", job.ID, res.Error))
		return 1
	}
	log.Info(fmt.Sprintf("Job %s completed successfully.", job.ID))
	log.Info("Local testing complete, exiting.")
	return 0
}

// errNoInput is runpod-python's message, word for word, for a test job
// without "input".
var errNoInput = errors.New("Job has no input parameter. Unable to run.") //nolint:staticcheck,revive // runpod-python's text

// loadTestJob reads the test job from the --test_input value, or from
// ./test_input.json when it is empty. The job must be a JSON object with a
// non-null "input"; "id" defaults to "local_test".
func loadTestJob(flagValue string) (*Job, error) {
	data, source := []byte(flagValue), "--test_input"
	if flagValue == "" {
		var err error
		if data, err = os.ReadFile(testInputFile); err != nil {
			return nil, fmt.Errorf("read %s: %w", testInputFile, err)
		}
		source = testInputFile
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", source, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%s is not a JSON object: got null", source)
	}
	if in, ok := fields["input"]; !ok || bytes.Equal(bytes.TrimSpace(in), []byte("null")) {
		return nil, errNoInput
	}
	if _, ok := fields["id"]; !ok {
		fields["id"] = json.RawMessage(`"` + localTestID + `"`)
		var err error
		if data, err = marshal(fields); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
	}
	job, err := parseJob(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return job, nil
}

// jsonField returns one top-level field of a JSON object, nil when absent.
func jsonField(body []byte, name string) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return nil
	}
	return fields[name]
}

// lineWriter writes one JSON value per line; it is safe for concurrent use.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(v any) error {
	data, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encode result line: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write result line: %w", err)
	}
	return nil
}
