// Command worker is the end-to-end tests' worker, on the serverless SDK.
// Its input says what to do:
//
//	{"echo": x}            output {"echo": x, "worker": RUNPOD_POD_ID}
//	{"sleep_ms": n}        sleep n ms first (returns early when the job is stopped)
//	{"exit": true}         exit the process mid-job (a lost worker)
//	{"fail": "msg"}        fail with msg
//	{"fail_until": "path"} fail until path exists (a job that works once retried)
//	{"chunks": n}          stream n chunks 0..n-1 (a streaming job), with "stream": true
//	{"progress": n}        send n progress updates {"step": i}, sleep_ms between
//	{"out_bytes": n}       output a string of n bytes
//	{"started": "path"}    create path when the handler starts (to observe the start)
//	{"stopped": "path"}    create path if the job's context ends before sleep_ms passed
//	{"refresh": true}      ask for a fresh worker after this job (refresh_worker)
//	{"wedge": true}        ignore SIGTERM and the job's end, sleep sleep_ms (a wedged worker)
//
// Its environment adds:
//
//	E2E_ENV_DIR=dir        write the environment to dir/$RUNPOD_POD_ID.env at start
//	E2E_CRASH="line"       print line to stderr and exit 2 at once (a crash loop)
package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/serverless"
)

type input struct {
	Echo     any    `json:"echo"`
	SleepMS  int    `json:"sleep_ms"`
	Exit     bool   `json:"exit"`
	Fail     string `json:"fail"`
	FailTill string `json:"fail_until"`
	Chunks   int    `json:"chunks"`
	Stream   bool   `json:"stream"`
	Progress int    `json:"progress"`
	OutBytes int    `json:"out_bytes"`
	Started  string `json:"started"`
	Stopped  string `json:"stopped"`
	Refresh  bool   `json:"refresh"`
	Wedge    bool   `json:"wedge"`
}

func touch(path string) {
	if path != "" {
		_ = os.WriteFile(path, nil, 0o644)
	}
}

func pause(ctx context.Context, in input) error {
	if in.SleepMS <= 0 {
		return nil
	}
	select {
	case <-time.After(time.Duration(in.SleepMS) * time.Millisecond):
		return nil
	case <-ctx.Done():
		touch(in.Stopped)
		return ctx.Err()
	}
}

func handle(ctx context.Context, job *serverless.Job) (any, error) {
	var in input
	if err := job.Decode(&in); err != nil {
		return nil, err
	}
	touch(in.Started)
	if in.Exit {
		os.Exit(3)
	}
	if in.Wedge {
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Duration(in.SleepMS) * time.Millisecond)
	}
	for i := range in.Progress {
		if err := serverless.ProgressUpdate(ctx, job, map[string]int{"step": i}); err != nil {
			return nil, err
		}
		if err := pause(ctx, in); err != nil {
			return nil, err
		}
	}
	if in.Progress == 0 {
		if err := pause(ctx, in); err != nil {
			return nil, err
		}
	}
	if in.Fail != "" {
		return nil, errors.New(in.Fail)
	}
	if _, err := os.Stat(in.FailTill); in.FailTill != "" && err != nil {
		return nil, fmt.Errorf("not yet: %s is missing", filepath.Base(in.FailTill))
	}
	if in.OutBytes > 0 {
		return strings.Repeat("o", in.OutBytes), nil
	}
	out := map[string]any{"echo": in.Echo, "worker": os.Getenv("RUNPOD_POD_ID")}
	if in.Refresh {
		out["refresh_worker"] = true
	}
	return out, nil
}

func stream(ctx context.Context, job *serverless.Job) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		var in input
		if err := job.Decode(&in); err != nil {
			yield(nil, err)
			return
		}
		touch(in.Started)
		for i := range in.Chunks {
			if err := pause(ctx, in); err != nil {
				yield(nil, err)
				return
			}
			if !yield(map[string]int{"chunk": i}, nil) {
				return
			}
		}
	}
}

func main() {
	if line := os.Getenv("E2E_CRASH"); line != "" {
		fmt.Fprintln(os.Stderr, line)
		os.Exit(2)
	}
	if gate := os.Getenv("E2E_START_GATE"); gate != "" {
		// A slow start (loading a model, say): the worker polls for no job
		// until the test creates this file.
		for {
			if _, err := os.Stat(gate); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if dir := os.Getenv("E2E_ENV_DIR"); dir != "" {
		env := strings.Join(os.Environ(), "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, os.Getenv("RUNPOD_POD_ID")+".env"), []byte(env), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "write env:", err)
			os.Exit(1)
		}
	}
	cfg := serverless.Config{Handler: handle}
	if os.Getenv("E2E_STREAM") == "1" {
		cfg = serverless.Config{StreamHandler: stream}
	}
	serverless.Start(cfg)
}
