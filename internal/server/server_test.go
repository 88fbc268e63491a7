package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Main(m)
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:80": true, "localhost:9": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:80": false, "10.0.0.5:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"": "http://127.0.0.1:8080", "0.0.0.0:9000": "http://127.0.0.1:9000", "[::]:9000": "http://127.0.0.1:9000",
		"10.0.0.5:80": "http://10.0.0.5:80", "https://sluice.example/": "https://sluice.example",
	} {
		if got := BaseURL(in); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWorkerEnv compares `sluice worker-env` output (shell-quoted) with a
// golden file, for a config whose endpoint sets its worker key.
func TestWorkerEnv(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("pingIntervalMs: 4500\nendpoints:\n  - id: echo\n    workerKey: \"k'ey\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := WorkerEnv(WorkerEnvOptions{Endpoint: "echo", Addr: "0.0.0.0:8080", ConfigPath: cfg, DataDir: dir, WorkerID: "w-1"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, kv := range env {
		b.WriteString(ShellQuote(kv) + "\n")
	}
	testutil.Golden(t, "worker_env", b.Bytes())
	if _, err := WorkerEnv(WorkerEnvOptions{Endpoint: "nope", ConfigPath: cfg, DataDir: dir}); err == nil || !strings.Contains(err.Error(), "configured: echo") {
		t.Errorf("unknown endpoint: %v", err)
	}
}

// TestWorkerKeysPersist: generated keys are random per endpoint, private
// (0600) and the same on every later call.
func TestWorkerKeysPersist(t *testing.T) {
	dir := t.TempDir()
	s, err := loadSettings("", []string{"a", "b"}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := workerKeys(dir, s.file)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := workerKeys(dir, s.file)
	if err != nil {
		t.Fatal(err)
	}
	if k1["a"] == "" || k1["a"] == k1["b"] || k1["a"] != k2["a"] || k1["b"] != k2["b"] {
		t.Errorf("keys %v then %v", k1, k2)
	}
	st, err := os.Stat(filepath.Join(dir, workerKeysFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("worker keys file: %v %v", st, err)
	}
}

// TestServeRefusesNonLoopbackWithoutKeys: Serve fails before opening anything.
func TestServeRefusesNonLoopbackWithoutKeys(t *testing.T) {
	t.Setenv(EnvAPIKeys, "")
	err := Serve(t.Context(), Options{Addr: "0.0.0.0:0", DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0") {
		t.Errorf("Serve on 0.0.0.0 without keys: %v", err)
	}
}

// TestServeShutdown: cancelling Serve's context releases a parked job-take
// long poll at once (204) and Serve returns nil well before the poll's hold.
func TestServeShutdown(t *testing.T) {
	t.Setenv(EnvAPIKeys, "")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{Addr: "127.0.0.1:0", DataDir: dir, Endpoints: []string{"ep"}, TakeHold: time.Minute,
			Ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		t.Fatal(err)
	}
	env, err := WorkerEnv(WorkerEnvOptions{Endpoint: "ep", Addr: addr, DataDir: dir, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(env[4], "RUNPOD_AI_API_KEY=")
	polled := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/ep/job-take/w1?", nil)
		req.Header.Set("Authorization", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- -1
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	// The poll is parked once the engine lists the worker (take registers it).
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/ep/workers")
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(body.String(), `"id":"w1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker w1 never listed: %s", body.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20 s of cancel")
	}
	if code := <-polled; code != http.StatusNoContent {
		t.Errorf("parked job-take got %d at shutdown, want 204", code)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// TestServeRefusesSharedKey: a worker key that is also a client key is a
// configuration error at start.
func TestServeRefusesSharedKey(t *testing.T) {
	t.Setenv(EnvAPIKeys, "same-key")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("workerKey: same-key\nendpoints:\n  - id: ep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Serve(t.Context(), Options{Addr: "127.0.0.1:0", DataDir: dir, ConfigPath: cfg})
	if err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Errorf("Serve with a shared key: %v", err)
	}
}
