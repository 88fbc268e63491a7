package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The tests of issue #15: endpoints whose workers are container images,
// run by a real `sluice serve` with rootful Podman, set up for this machine
// by the test's own containers.conf and the endpoint's runtimeArgs
// (testutil.NeedPodman). Images are built locally FROM scratch with the
// static test worker; nothing is pulled.

// pod is a test's Podman and the image it built.
type pod struct {
	*testutil.Podman
	image string
}

// newPod builds a FROM scratch image holding the static test worker.
func newPod(t *testing.T) *pod {
	t.Helper()
	p := testutil.NeedPodman(t)
	return &pod{Podman: p, image: p.BuildScratch(".", "./testdata/worker")}
}

// containers lists the names of the containers (running or not) with
// every given label (key=value), sorted.
func (p *pod) containers(labels ...string) []string {
	args := []string{"ps", "--all", "--format", "{{.Names}}"}
	for _, l := range labels {
		args = append(args, "--filter", "label="+l)
	}
	names := strings.Fields(p.Run(args...))
	slices.Sort(names)
	return names
}

// serverID is the id of the server using dataDir (the sluice.server label).
func serverID(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "server-id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// imageServer starts `sluice serve` with one endpoint "img" running p's
// image; endpoint holds more of its settings, indented by four spaces.
func imageServer(t *testing.T, p *pod, endpoint string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	yaml := fmt.Sprintf("pingIntervalMs: 1000\nendpoints:\n  - id: img\n    image: %s\n    runtime: podman\n    runtimeArgs: [%s]\n%s",
		p.image, strings.Join(p.Globals, ", "), endpoint)
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	var sid string
	// Registered before the server's own cleanup, so it runs after the
	// server stopped (cleanups run last-in first-out).
	t.Cleanup(func() {
		if sid == "" {
			return
		}
		if left := p.containers("sluice.server=" + sid); len(left) > 0 {
			t.Errorf("containers left after sluice serve stopped: %v", left)
			p.Run(append([]string{"rm", "--force", "--time", "0"}, left...)...)
		}
	})
	// SLUICE_E2E_HOST_ONLY is in the server's environment, not the workers'.
	s := startServer(t, "", data, append([]string{"SLUICE_API_KEYS=", "SLUICE_E2E_HOST_ONLY=1"}, p.Env...), "--config", cfg)
	sid = serverID(t, data)
	return s, sid
}

// TestImageWorkers runs an image endpoint through its life: scale 0 -> 2
// -> 0, logs per job, the worker environment (RUNPOD_*, nothing of the
// server's own, volumes and the network volume), a refresh, a crash
// mid-job, a kill -9 of sluice serve and its restart (the containers it
// left are removed, never doubled), and a stop that leaves none.
func TestImageWorkers(t *testing.T) {
	p := newPod(t)
	vol, netVol := t.TempDir(), t.TempDir()
	s, sid := imageServer(t, p, fmt.Sprintf(
		"    pull: never\n    workersMax: 2\n    idleTimeout: 1\n    scalerType: REQUEST_COUNT\n    scalerValue: 1\n"+
			"    volumes: [\"%s:/envdir\"]\n    networkVolume: %s\n    env: {E2E_ENV_DIR: /envdir, E2E_MARK: set-by-endpoint}\n", vol, netVol))
	mine := "sluice.server=" + sid
	if got := p.containers(mine); len(got) != 0 {
		t.Fatalf("containers before any job: %v", got)
	}

	// 0 -> 2: two slow jobs, two containers.
	a := s.submit(t, "img", `{"sleep_ms": 1500, "echo": "a"}`)
	b := s.submit(t, "img", `{"sleep_ms": 1500, "echo": "b"}`)
	testutil.WaitFor(t, 60*time.Second, "two worker containers", func() bool { return len(p.containers(mine, "sluice.endpoint=img")) == 2 })
	workers := map[string]bool{}
	for _, id := range []string{a, b} {
		st := s.waitStatus(t, "", "img", id, 60*time.Second, "COMPLETED")
		w, _ := st["workerId"].(string)
		workers[w] = true
		// Logs per job: the worker's own lines about this job, from the container's stdout.
		r := s.do(t, "GET", "/v2/img/logs?job="+id, "", nil)
		if r.code != 200 || !strings.Contains(string(r.body), id) || !strings.Contains(string(r.body), w) {
			t.Errorf("logs of job %s: %d %s", id, r.code, tail(string(r.body), 500))
		}
	}
	if len(workers) != 2 {
		t.Errorf("the two jobs ran on workers %v, want two", workers)
	}
	for w := range workers {
		if got := p.containers("sluice.worker=" + w); !slices.Equal(got, []string{"sluice-" + w}) {
			t.Errorf("container of worker %s: %v", w, got)
		}
		env, err := os.ReadFile(filepath.Join(vol, w+".env"))
		if err != nil {
			t.Fatalf("worker %s wrote no env through the volume: %v", w, err)
		}
		for _, want := range []string{"RUNPOD_POD_ID=" + w, "RUNPOD_ENDPOINT_ID=img", "RUNPOD_WEBHOOK_GET_JOB=" + s.url, "E2E_MARK=set-by-endpoint", "PYTHONUNBUFFERED=1"} {
			if !strings.Contains(string(env), want) {
				t.Errorf("worker %s env lacks %s:\n%s", w, want, env)
			}
		}
		if strings.Contains(string(env), "SLUICE_E2E_HOST_ONLY") || strings.Contains(string(env), "CONTAINERS_CONF") {
			t.Errorf("worker %s got the server's own environment:\n%s", w, env)
		}
	}
	// 2 -> 0 after idleTimeout: containers gone, not just stopped.
	testutil.WaitFor(t, 60*time.Second, "no worker container after the idle timeout", func() bool { return len(p.containers(mine)) == 0 })

	// The network volume is at /runpod-volume.
	nv := s.submit(t, "img", `{"started": "/runpod-volume/probe"}`)
	s.waitStatus(t, "", "img", nv, 60*time.Second, "COMPLETED")
	if _, err := os.Stat(filepath.Join(netVol, "probe")); err != nil {
		t.Errorf("the worker's /runpod-volume/probe is not in the network volume: %v", err)
	}

	// Refresh: the worker asks for a fresh one; its container goes.
	r1 := s.submit(t, "img", `{"refresh": true, "echo": "r"}`)
	st := s.waitStatus(t, "", "img", r1, 60*time.Second, "COMPLETED")
	refreshed, _ := st["workerId"].(string)
	testutil.WaitFor(t, 60*time.Second, "the refreshed worker's container to go", func() bool {
		return len(p.containers("sluice.worker="+refreshed)) == 0
	})

	// A crash mid-job: the container exits, the job runs again elsewhere.
	c := s.submit(t, "img", `{"exit": true, "echo": "crash"}`)
	testutil.WaitFor(t, 60*time.Second, "the crashing job to be taken", func() bool {
		w, _ := s.do(t, "GET", "/v2/img/status/"+c, "", nil).json(t)["workerId"].(string)
		return w != ""
	})
	crashed, _ := s.do(t, "GET", "/v2/img/status/"+c, "", nil).json(t)["workerId"].(string)
	testutil.WaitFor(t, 60*time.Second, "the crashed worker's container to go", func() bool {
		return len(p.containers("sluice.worker="+crashed)) == 0
	})
	testutil.WaitFor(t, 30*time.Second, "the crashed worker's log to say how it ended", func() bool {
		logs := s.do(t, "GET", "/v2/img/logs?worker="+crashed, "", nil)
		return strings.Contains(string(logs.body), "crashed: exited with status 3")
	})

	// kill -9 of sluice serve with two busy containers, then a restart.
	k1 := s.submit(t, "img", `{"sleep_ms": 8000, "echo": "k1"}`)
	k2 := s.submit(t, "img", `{"sleep_ms": 8000, "echo": "k2"}`)
	for _, id := range []string{k1, k2} {
		s.waitStatus(t, "", "img", id, 60*time.Second, "IN_PROGRESS")
	}
	before := p.containers(mine)
	if len(before) != 2 {
		t.Fatalf("containers running the two long jobs: %v", before)
	}
	s.kill9()
	if after := p.containers(mine); !slices.Equal(after, before) {
		t.Fatalf("containers right after kill -9: %v, want %v still there", after, before)
	}
	s.start()
	// Never doubled: at no point more than workersMax containers; the old
	// ones go, and the two jobs run again (at-least-once) and complete.
	testutil.WaitFor(t, 60*time.Second, "the containers of the killed server to be removed", func() bool {
		now := p.containers(mine)
		if len(now) > 2 {
			t.Fatalf("%d containers after the restart (%v), workersMax is 2", len(now), now)
		}
		return !slices.ContainsFunc(now, func(n string) bool { return slices.Contains(before, n) })
	})
	// The jobs were held by workers now gone: they are re-queued once the
	// engine finds them lost, then run on new containers.
	for _, id := range []string{k1, k2} {
		st := s.waitStatus(t, "", "img", id, 120*time.Second, "COMPLETED", "FAILED")
		if st["status"] != "COMPLETED" {
			t.Errorf("job %s after the restart: %v", id, st)
		}
		if n := len(p.containers(mine)); n > 2 {
			t.Fatalf("%d containers, workersMax is 2", n)
		}
	}

	// sluice serve stopping leaves no container (checked by imageServer's cleanup too).
	s.stop()
	if left := p.containers(mine); len(left) != 0 {
		t.Errorf("containers after sluice serve stopped: %v", left)
	}
}

// TestImagePullFailure: an image that cannot be pulled (no registry is
// reachable) is each worker's exit reason, shown as the endpoint's waiting
// reason with the runtime's error; the pull attempt is in the worker's log.
func TestImagePullFailure(t *testing.T) {
	p := &pod{Podman: testutil.NeedPodman(t), image: "127.0.0.1:1/sluice-e2e-missing:1"} // nothing listens on port 1
	s, _ := imageServer(t, p, "    workersMax: 1\n    pull: always\n")
	id := s.submit(t, "img", `{"echo": 1}`)
	w := s.waitingOf(t, "img", id, "CRASH_LOOP")
	msg, _ := w["message"].(string)
	t.Logf("waiting message: %s", msg)
	if !strings.Contains(msg, "exited with status 125: podman run failed (image 127.0.0.1:1/sluice-e2e-missing:1): ") ||
		!strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("waiting message %q does not give the failed pull", msg)
	}
	_, crashed, err := s.procs("img")
	if err != nil || len(crashed) == 0 {
		t.Fatalf("no crash record: %v", err)
	}
	logs := string(s.do(t, "GET", "/v2/img/logs?worker="+crashed[0].ID, "", nil).body)
	if !strings.Contains(logs, "Trying to pull 127.0.0.1:1/sluice-e2e-missing:1") {
		t.Errorf("the worker's log has no pull progress: %s", tail(logs, 800))
	}
}

// TestImageGPUsWithoutGPU: gpus: auto on a machine without an NVIDIA GPU
// (no nvidia-smi on PATH) and an endpoint wanting one: sluice serve
// refuses to start and says why, with the line.
func TestImageGPUsWithoutGPU(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := "gpus: auto\nendpoints:\n  - id: img\n    image: localhost/w:1\n    gpuCount: 1\n    workersMax: 1\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.sluice, "serve", "--config", cfg, "--addr", freeAddr(t), "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	want := cfg + `:5: endpoints[0].gpuCount: 1 GPUs per worker, but gpus: auto found no GPU on this machine: no NVIDIA GPU found: nvidia-smi -L: exec: "nvidia-smi": executable file not found in $PATH`
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("sluice serve: %v\n%s\nwant it to fail with %s", err, out, want)
	}
}

// TestImageWedgedKilled: a container worker that ignores a cancel and
// SIGTERM is stopped the hard way after stopGraceSeconds (SIGTERM, then
// SIGKILL of the runtime's CLI), and its container really goes.
func TestImageWedgedKilled(t *testing.T) {
	p := newPod(t)
	s, sid := imageServer(t, p, "    pull: never\n    workersMax: 1\n    idleTimeout: 60\n    stopGraceSeconds: 2\n")
	a := s.submit(t, "img", `{"wedge": true, "sleep_ms": 600000}`)
	st := s.waitStatus(t, "", "img", a, 60*time.Second, "IN_PROGRESS")
	wedged, _ := st["workerId"].(string)
	if r := s.do(t, "POST", "/v2/img/cancel/"+a, "", nil); r.code != 200 {
		t.Fatalf("cancel: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 60*time.Second, "the wedged worker's container to go", func() bool {
		return len(p.containers("sluice.worker="+wedged)) == 0
	})
	logs := string(s.do(t, "GET", "/v2/img/logs?worker="+wedged, "", nil).body)
	if !strings.Contains(logs, "SIGTERM") || !strings.Contains(logs, "SIGKILL") {
		t.Errorf("the wedged worker was not stopped with SIGTERM then SIGKILL: %s", tail(logs, 1500))
	}
	// Its replacement serves the next job; never more than one container.
	b := s.submit(t, "img", `{"echo": "b"}`)
	s.waitStatus(t, "", "img", b, 60*time.Second, "COMPLETED")
	if n := len(p.containers("sluice.server=" + sid)); n > 1 {
		t.Errorf("%d containers, workersMax is 1", n)
	}
}
