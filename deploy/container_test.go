package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestContainerImage builds the image with Podman from a static binary
// (deploy/container/build.sh, base scratch: nothing is pulled), runs it
// with a mounted config and a named volume on /data, waits for /readyz, and
// runs a job on a Go SDK worker on the host started with the environment
// `sluice worker-env` prints.
func TestContainerImage(t *testing.T) {
	podman := testutil.NeedBinary(t, "podman")
	testutil.NeedBinary(t, "runc", "/usr/sbin/runc")
	dir := t.TempDir()
	// Rootful Podman bind-mounts its overlay store onto itself; detach it
	// (after the container is removed, before the temp dir is) or the
	// directory cannot be removed.
	t.Cleanup(func() {
		// conmon runs `podman container cleanup` after a container ends,
		// which mounts the store again: wait for every process using dir.
		testutil.WaitFor(t, 30*time.Second, "podman processes using the test's store to end", func() bool {
			return !processUsing(dir)
		})
		// Each podman call may have stacked another mount: detach until
		// the path is no mount point (EINVAL) or gone (ENOENT).
		for range 64 {
			err := unix.Unmount(filepath.Join(dir, "storage", "overlay"), unix.MNT_DETACH)
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				return
			}
			if err != nil {
				t.Logf("unmount the test's overlay store: %v", err)
				return
			}
		}
	})

	run(t, "", []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", filepath.Join(dir, "sluice"), "./cmd/sluice")
	run(t, "", nil, "go", "build", "-o", filepath.Join(dir, "echo-worker"), "./examples/basic")

	// Podman state lives in dir: storage, run root and containers.conf
	// (no ulimits: the machine's may not be raisable inside a container).
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"),
		"--runtime", "runc", "--cgroup-manager", "cgroupfs"}
	env := []string{"CONTAINERS_CONF=" + conf}
	pod := func(args ...string) string {
		t.Helper()
		return run(t, dir, env, podman, append(global, args...)...)
	}
	const image = "localhost/sluice:test"
	run(t, "", append(env, "CONTAINER_BUILDER="+podman+" "+strings.Join(global, " ")),
		"deploy/container/build.sh", filepath.Join(dir, "sluice"), image)

	var inspect []struct {
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Volumes    map[string]struct{}
		}
	}
	if err := json.Unmarshal([]byte(pod("image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	ic := inspect[0].Config
	if ic.User != "65532:65532" || strings.Join(ic.Entrypoint, " ") != "/usr/local/bin/sluice" ||
		strings.Join(ic.Cmd, " ") != "serve --config /etc/sluice/sluice.yaml --addr 0.0.0.0:8080 --data-dir /data" {
		t.Errorf("image config: user %q, entrypoint %q, cmd %q", ic.User, ic.Entrypoint, ic.Cmd)
	}
	if _, ok := ic.Volumes["/data"]; !ok {
		t.Errorf("image volumes %v lack /data", ic.Volumes)
	}
	if out := pod("run", "--rm", image, "version"); !strings.HasPrefix(out, "sluice ") {
		t.Errorf("sluice version in the image: %q", out)
	}

	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("apiKeys: [client-key]\nworkerKey: worker-key\nendpoints:\n  - id: echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Host networking; the server listens on loopback only.
	port := testutil.FreePort(t)
	addr := "127.0.0.1:" + itoa(port)
	const name = "sluice-test"
	pod("run", "--detach", "--name", name, "--network", "host",
		"--volume", cfg+":/etc/sluice/sluice.yaml:ro", "--volume", "sluice-test-data:/data", image,
		"serve", "--config", "/etc/sluice/sluice.yaml", "--addr", addr, "--data-dir", "/data")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command(podman, append(global, "logs", name)...).CombinedOutput()
			t.Logf("container logs:\n%s", logs)
		}
		if out, err := exec.Command(podman, append(global, "rm", "--force", "--time", "5", name)...).CombinedOutput(); err != nil {
			t.Errorf("podman rm: %v\n%s", err, out)
		}
	})
	var last string // the last /readyz answer, shown if it never turns 200
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last /readyz answer: %s", last)
		}
	})
	testutil.WaitFor(t, 60*time.Second, "/readyz of the container to answer 200", func() bool {
		code, body := get(addr, "/readyz", "")
		last = itoa(code) + " " + body
		return code == http.StatusOK
	})
	if code, body := get(addr, "/v2/echo/health", ""); code != http.StatusUnauthorized {
		t.Errorf("/v2/echo/health without a key: %d %s", code, body)
	}

	workerEnv := envLines(t, run(t, dir, nil, filepath.Join(dir, "sluice"), "worker-env", "echo", "--format", "env",
		"--config", cfg, "--addr", addr, "--data-dir", filepath.Join(dir, "host-data"), "--worker-id", "host-worker"))
	runsyncOnWorker(t, filepath.Join(dir, "echo-worker"), append(os.Environ(), workerEnv...), addr, "container", "host-worker")
}

// get GETs path on addr with an optional bearer key; code 0 means no answer.
func get(addr, path, key string) (int, string) {
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// processUsing reports whether a process other than this one has path in
// its command line.
func processUsing(path string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if e.Name() == self || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), path) {
			return true
		}
	}
	return false
}
