package serverless

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// captureStderr points the SDK's stderr at a buffer for the test.
func captureStderr(t *testing.T) *testutil.Buffer {
	t.Helper()
	var buf testutil.Buffer
	old := stderr
	stderr = &buf
	t.Cleanup(func() { stderr = old })
	return &buf
}

// TestFitnessCheckFailureExits: the failing check's name and error are on
// stderr, the worker exits 1, later checks do not run and no job is taken.
func TestFitnessCheckFailureExits(t *testing.T) {
	errOut := captureStderr(t)
	fp := newFakePlatform(t)
	var ran []string
	check := func(name string, err error) FitnessCheck {
		return FitnessCheck{Name: name, Func: func(context.Context) error { ran = append(ran, name); return err }}
	}
	w := startWorker(t, fp, Config{Handler: echoHandler, FitnessChecks: []FitnessCheck{
		check("disk", nil), check("gpu", errors.New("no CUDA device")), check("model", nil),
	}})
	if code := w.wait(t); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "serverless: fitness check failed: gpu: no CUDA device\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
	if strings.Join(ran, ",") != "disk,gpu" {
		t.Errorf("checks run: %v, want disk,gpu", ran)
	}
	if reqs := fp.requests(); len(reqs) != 0 {
		t.Errorf("the unfit worker talked to the platform: %v", reqs)
	}
}

// TestFitnessCheckPanicFails: a panicking check is a failure, not a crash.
func TestFitnessCheckPanicFails(t *testing.T) {
	errOut := captureStderr(t)
	w := startWorker(t, newFakePlatform(t), Config{Handler: echoHandler, FitnessChecks: []FitnessCheck{
		{Name: "boom", Func: func(context.Context) error { panic("driver gone") }},
	}})
	if code := w.wait(t); code != 1 || !strings.Contains(errOut.String(), "fitness check failed: boom: panic: driver gone") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

// TestFitnessChecksPassThenTake: passing checks run before the first take.
func TestFitnessChecksPassThenTake(t *testing.T) {
	captureStderr(t)
	fp := newFakePlatform(t)
	requestsBefore := -1
	startWorker(t, fp, Config{Handler: echoHandler, FitnessChecks: []FitnessCheck{
		{Name: "ok", Func: func(context.Context) error { requestsBefore = len(fp.requests()); return nil }},
	}})
	fp.waitFor(t, "a job-take", func(reqs []fpRequest) bool { return len(reqs) > 0 })
	if requestsBefore != 0 {
		t.Errorf("the check ran after %d platform requests, want before any", requestsBefore)
	}
}

func TestFitnessCheckConfigNeedsNameAndFunc(t *testing.T) {
	for _, c := range []FitnessCheck{{Name: "x"}, {Func: func(context.Context) error { return nil }}} {
		cfg := Config{Handler: echoHandler, FitnessChecks: []FitnessCheck{c}}
		if err := validateConfig(&cfg); err == nil || !strings.Contains(err.Error(), "FitnessChecks[0] needs a Name and a Func") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
