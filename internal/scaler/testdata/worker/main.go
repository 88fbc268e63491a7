// Command worker is a stdlib-only worker for the supervisor's tests. It speaks
// the parts of the Runpod worker protocol the tests need: job-take (long
// poll), job-done and ping, from the RUNPOD_* environment.
//
// Job input (all optional): {"sleep_ms": N, "log": "text", "exit": code
// (exit mid-job), "refresh": true (post with stopPod, then exit 0), "quit":
// true (post without stopPod, then exit 0), "stopPod": true}.
// Output: {"worker": pod id, "gpus": CUDA_VISIBLE_DEVICES, "termDuringJob": bool}.
//
// Env for tests: SLUICE_TEST_ENV_DIR (write the env to <dir>/<pod id>.env),
// WORKER_CRASH=1 (print a line and exit 3 at once), WORKER_IGNORE_TERM=1,
// WORKER_SPAWN_CHILD=1 (start `sleep 300` and write its pid to <dir>/<pod id>.child),
// WORKER_SILENT=1 (never take or ping), WORKER_HANG_AFTER_JOB=1 (stop taking
// and pinging after the first job).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	podID   = os.Getenv("RUNPOD_POD_ID")
	key     = os.Getenv("RUNPOD_AI_API_KEY")
	current atomic.Value // string: job in progress
	hung    atomic.Bool
)

func main() {
	if dir := os.Getenv("SLUICE_TEST_ENV_DIR"); dir != "" {
		env := os.Environ()
		if wd, err := os.Getwd(); err == nil {
			env = append(env, "SLUICE_TEST_CWD="+wd)
		}
		slices.Sort(env)
		os.WriteFile(filepath.Join(dir, podID+".env"), []byte(strings.Join(env, "\n")+"\n"), 0o600)
	}
	if os.Getenv("WORKER_SPAWN_CHILD") == "1" {
		// A helper process that ignores our exit, like a daemon child.
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil {
			os.WriteFile(filepath.Join(os.Getenv("SLUICE_TEST_ENV_DIR"), podID+".child"), []byte(strconv.Itoa(child.Process.Pid)), 0o600)
		}
	}
	if os.Getenv("WORKER_CRASH") == "1" {
		fmt.Fprintln(os.Stderr, "ERROR  | boom: crashing on purpose")
		os.Exit(3)
	}
	if os.Getenv("WORKER_SILENT") == "1" {
		fmt.Println("INFO   | silent: never taking or pinging")
		time.Sleep(time.Hour)
	}
	ctx, stop := context.WithCancel(context.Background())
	var term atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		for range sigs {
			fmt.Println("INFO   | got SIGTERM")
			if os.Getenv("WORKER_IGNORE_TERM") == "1" {
				continue
			}
			term.Store(true)
			stop()
		}
	}()
	current.Store("")
	go ping(ctx)
	fmt.Println("INFO   | worker ready")
	client := &http.Client{}
	for ctx.Err() == nil {
		job, err := take(ctx, client)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Println("WARN   | take:", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		if job == nil {
			continue
		}
		run(client, job, &term)
		if os.Getenv("WORKER_HANG_AFTER_JOB") == "1" {
			fmt.Println("INFO   | hanging: no more takes or pings")
			hung.Store(true)
			time.Sleep(time.Hour)
		}
	}
	fmt.Println("INFO   | worker exiting")
}

type jobMsg struct {
	ID    string `json:"id"`
	Input struct {
		SleepMs int    `json:"sleep_ms"`
		Log     string `json:"log"`
		Exit    *int   `json:"exit"`
		Refresh bool   `json:"refresh"`
		StopPod bool   `json:"stopPod"`
		Quit    bool   `json:"quit"`
	} `json:"input"`
}

func take(ctx context.Context, c *http.Client) (*jobMsg, error) {
	u := strings.ReplaceAll(os.Getenv("RUNPOD_WEBHOOK_GET_JOB"), "$ID", podID) + "&job_in_progress=0"
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Authorization", key)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("job-take: %s %s", resp.Status, b)
	}
	var j jobMsg
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return nil, err
	}
	return &j, nil
}

func run(c *http.Client, j *jobMsg, term *atomic.Bool) {
	current.Store(j.ID)
	defer current.Store("")
	fmt.Printf("INFO   | %s | started\n", j.ID)
	if j.Input.Log != "" {
		fmt.Printf("INFO   | %s | %s\n", j.ID, j.Input.Log)
	}
	termBefore := term.Load()
	if j.Input.Exit != nil {
		fmt.Printf("ERROR  | %s | exiting mid-job with %d\n", j.ID, *j.Input.Exit)
		os.Exit(*j.Input.Exit)
	}
	time.Sleep(time.Duration(j.Input.SleepMs) * time.Millisecond)
	body := map[string]any{"output": map[string]any{
		"worker":        podID,
		"gpus":          os.Getenv("CUDA_VISIBLE_DEVICES"),
		"termDuringJob": term.Load() && !termBefore,
	}}
	if j.Input.StopPod || j.Input.Refresh {
		body["stopPod"] = true
	}
	b, _ := json.Marshal(body)
	u := strings.ReplaceAll(os.Getenv("RUNPOD_WEBHOOK_POST_OUTPUT"), "$RUNPOD_POD_ID", podID)
	u = strings.ReplaceAll(u, "$ID", j.ID) + "&isStream=false"
	for attempt := range 3 {
		req, _ := http.NewRequest("POST", u, bytes.NewReader(b))
		req.Header.Set("Authorization", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		fmt.Printf("WARN   | %s | job-done attempt %d: %v\n", j.ID, attempt, err)
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("INFO   | %s | finished\n", j.ID)
	if j.Input.Refresh || j.Input.Quit {
		fmt.Println("INFO   | exiting after the job")
		os.Exit(0)
	}
}

func ping(ctx context.Context) {
	ms, _ := strconv.Atoi(os.Getenv("RUNPOD_PING_INTERVAL"))
	if ms <= 0 {
		ms = 10000
	}
	u := strings.ReplaceAll(os.Getenv("RUNPOD_WEBHOOK_PING"), "$RUNPOD_POD_ID", podID)
	var once sync.Once
	for !hung.Load() {
		q := url.Values{"runpod_version": {"test"}}
		if id, _ := current.Load().(string); id != "" {
			q.Set("job_id", id)
		}
		req, _ := http.NewRequest("GET", u+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		} else {
			once.Do(func() { fmt.Println("WARN   | ping:", err) })
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			// Keep pinging while a job finishes after SIGTERM.
			if id, _ := current.Load().(string); id == "" {
				return
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	}
}
