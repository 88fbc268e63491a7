package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const crashEnv = "SLUICE_ENGINE_CRASH_CHILD"

// TestCrashChild is the process TestKill9 kills: it submits jobs under load
// while a worker takes and finishes some, printing each id once Submit returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestKill9 only")
	}
	ep := os.Getenv(crashEnv + "_EP")
	cfg := fastConfig(ep)
	cfg.DataDir = dir
	cfg.WorkerLostAfter = time.Minute
	e, err := Open(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	ctx := context.Background()
	go func() { // a worker that finishes every other job and keeps the rest
		for i := 0; ; i++ {
			jobs, err := e.Take(ctx, ep, "doomed-worker", 2)
			if err != nil {
				return
			}
			for _, j := range jobs {
				if i%2 == 0 {
					_ = e.Finish(ctx, ep, "doomed-worker", j.ID, Result{Output: json.RawMessage(`"early"`)})
				}
			}
		}
	}()
	w := bufio.NewWriter(os.Stdout)
	for i := range 100_000 { // bounded; the parent kills us long before
		j, err := e.Submit(ctx, ep, SubmitRequest{Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			fmt.Fprintln(w, "ERR", err)
			_ = w.Flush()
			os.Exit(1)
		}
		fmt.Fprintln(w, "ID", j.ID)
		_ = w.Flush()
	}
	os.Exit(2)
}

// TestKill9 kills (SIGKILL) a process running the embedded engine mid-load,
// reopens its data directory and checks that every job whose id Submit
// returned is still there and reaches a terminal state.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	dir := t.TempDir()
	ep := newEndpoint()
	ctx := ctxT(t, 120*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_EP="+ep)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ID "):
			ids = append(ids, strings.TrimPrefix(line, "ID "))
		case strings.HasPrefix(line, "ERR "):
			t.Fatalf("child: %s", line)
		}
		if len(ids) == 300 && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v", err)
	}
	t.Logf("child killed after %d accepted jobs", len(ids))

	cfg := fastConfig(ep)
	cfg.WorkerLostAfter = 300 * time.Millisecond
	cfg.DataDir = dir
	e := openEngine(t, cfg)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pinger(pctx, e, ep, "survivor")
	terminal := map[string]bool{}
	retried := 0
	waitFor(t, 90*time.Second, "every accepted job terminal", func() bool {
		jobs, err := e.Take(ctxT(t, 100*time.Millisecond), ep, "survivor", 20)
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		for _, j := range jobs {
			// Under load the survivor can miss its 300 ms ping window and
			// lose the job to the reaper (requeued): it is taken again.
			if err := e.Finish(ctx, ep, "survivor", j.ID, Result{Output: json.RawMessage(`"late"`)}); err != nil && !errors.Is(err, ErrNotOwner) {
				t.Fatalf("finish: %v", err)
			}
		}
		for _, id := range ids {
			if terminal[id] {
				continue
			}
			j, err := e.Get(ctx, ep, id)
			if errors.Is(err, ErrNotFound) {
				t.Fatalf("accepted job %s lost after kill -9", id)
			}
			if err != nil {
				t.Fatalf("get %s: %v", id, err)
			}
			if j.Status.Terminal() {
				if j.Status != StatusCompleted {
					t.Fatalf("job %s ended %s: %s", id, j.Status, j.Error)
				}
				terminal[id] = true
				if j.Retries > 0 {
					retried++
				}
			}
		}
		return len(terminal) == len(ids)
	})
	t.Logf("%d jobs completed, %d of them re-run after their worker died with the process", len(ids), retried)
}
