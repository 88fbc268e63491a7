package scaler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testutil"
)

// workerBin is the test worker (testdata/worker) and fitWorkerBin a Go SDK
// worker whose fitness check fails (testdata/fitworker), built once in TestMain.
var workerBin, fitWorkerBin string

func TestMain(m *testing.M) {
	testutil.MainWith(m, func() (func(), error) {
		dir, err := os.MkdirTemp("", "sluice-scaler-test")
		if err != nil {
			return nil, err
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		workerBin, fitWorkerBin = filepath.Join(dir, "worker"), filepath.Join(dir, "fitworker")
		if out, err := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./testdata/worker", "./testdata/fitworker").CombinedOutput(); err != nil {
			return cleanup, fmt.Errorf("build test workers: %w\n%s", err, out)
		}
		return cleanup, nil
	})
}

// harness runs a Supervisor over a jobServer with endpoints from YAML.
type harness struct {
	t       testing.TB
	js      *jobServer
	sup     *Supervisor
	envDir  string
	cfgDir  string
	stopped bool
	cfg     *config.File
	cancel  context.CancelFunc
	ran     chan error
}

// parse reads endpoints YAML; TESTWORKERBIN in it becomes the test worker's path.
// Relative dirs are relative to cfgDir.
func parse(t testing.TB, cfgDir, yaml string) *config.File {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "TESTWORKERBIN", workerBin)
	yaml = strings.ReplaceAll(yaml, "FITWORKERBIN", fitWorkerBin)
	f, err := config.Parse([]byte(yaml), filepath.Join(cfgDir, "sluice.yaml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return f
}

func newHarness(t testing.TB, yaml string, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, js: newJobServer(t), envDir: t.TempDir(), ran: make(chan error, 1)}
	h.cfgDir = t.TempDir()
	h.cfg = parse(t, h.cfgDir, yaml)
	cfg := Config{
		BaseURL:         h.js.srv.URL,
		Queue:           h.js,
		DataDir:         t.TempDir(),
		WorkerKey:       h.js.key,
		PingInterval:    200 * time.Millisecond,
		Tick:            50 * time.Millisecond,
		StopGrace:       2 * time.Second,
		ShutdownGrace:   5 * time.Second,
		CrashBackoff:    100 * time.Millisecond,
		MaxCrashBackoff: 800 * time.Millisecond,
		LostAfter:       2 * time.Second,
		Env:             append(os.Environ(), "SLUICE_TEST_ENV_DIR="+h.envDir),
		Logger:          slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	sup, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.sup = sup
	h.js.onStopPod = func(w string) { sup.Refresh(w) }
	if err := sup.Update(context.Background(), h.cfg.Endpoints); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.ran <- sup.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// update applies new endpoints YAML (same config dir as the harness's).
func (h *harness) update(yaml string) {
	h.t.Helper()
	if err := h.sup.Update(h.t.Context(), parse(h.t, h.cfgDir, yaml).Endpoints); err != nil {
		h.t.Fatal(err)
	}
}

// stop ends Run and checks that no worker process is left.
func (h *harness) stop() {
	h.t.Helper()
	if h.stopped {
		return
	}
	h.stopped = true
	var pids []int
	for id := range h.cfg.Endpoints {
		for _, w := range h.sup.Workers(h.cfg.Endpoints[id].ID) {
			if w.PID > 0 && w.Status != StatusUnhealthy {
				pids = append(pids, w.PID)
			}
		}
	}
	h.cancel()
	select {
	case err := <-h.ran:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pids {
		if alive(pid) {
			h.t.Errorf("worker pid %d still alive after Run returned", pid)
		}
	}
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// submit queues a job on ep and notifies the supervisor.
func (h *harness) submit(ep string, input any) string {
	id := h.js.submit(ep, input, false)
	h.sup.Notify(ep)
	return id
}

// live returns the endpoint's worker processes (not crash records).
func (h *harness) live(ep string) []WorkerInfo {
	var out []WorkerInfo
	for _, w := range h.sup.Workers(ep) {
		if w.ExitedAt.IsZero() {
			out = append(out, w)
		}
	}
	return out
}

// sampler records the largest number of live workers seen until stopped.
type sampler struct {
	stop chan struct{}
	done chan int
}

func (h *harness) sample(ep string) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan int, 1)}
	go func() {
		peak := 0
		for {
			peak = max(peak, len(h.live(ep)))
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *sampler) peak() int {
	close(s.stop)
	return <-s.done
}

// workerEnv reads the env file the test worker wrote.
func (h *harness) workerEnv(id string) map[string]string {
	h.t.Helper()
	var b []byte
	testutil.WaitFor(h.t, 10*time.Second, "env file of "+id, func() bool {
		var err error
		b, err = os.ReadFile(filepath.Join(h.envDir, id+".env"))
		return err == nil && len(b) > 0 && b[len(b)-1] == '\n'
	})
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	return env
}
