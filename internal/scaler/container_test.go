package scaler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// fakeRuntime writes an executable name in dir whose `info` exits with code.
func fakeRuntime(t *testing.T, dir, name string, code int, say string) {
	t.Helper()
	script := "#!/bin/sh\n[ \"$1\" = info ] || exit 64\necho '" + say + "' >&2\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestRuntimeDetect: the default runtime is the first of podman and docker
// whose engine answers; a docker CLI without a daemon is passed over; with
// neither, Update fails and says why for each.
func TestRuntimeDetect(t *testing.T) {
	dir := t.TempDir()
	fakeRuntime(t, dir, "podman", 1, "Error: cannot connect to Podman")
	fakeRuntime(t, dir, "docker", 0, "ok")
	t.Setenv("PATH", dir)
	var r runtimes
	rt, err := r.detect(context.Background(), nil, os.Environ())
	if err != nil || rt != config.RuntimeDocker {
		t.Fatalf("detect = %q, %v; want docker", rt, err)
	}

	dir = t.TempDir()
	fakeRuntime(t, dir, "docker", 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
	t.Setenv("PATH", dir)
	h := newHarness(t, "endpoints:\n  - id: a\n", nil)
	err = h.sup.Update(context.Background(), []config.Endpoint{{ID: "img", Container: config.Container{Image: "w:1", Pull: config.PullNever}}})
	for _, want := range []string{"endpoint img: image w:1: no container runtime answers", "podman: not on PATH",
		"docker info: exit status 1: Cannot connect to the Docker daemon"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Update error %v\nwant it to contain %q", err, want)
		}
	}
	if !errors.Is(err, errNoRuntime) {
		t.Errorf("Update error is not errNoRuntime: %v", err)
	}
}
