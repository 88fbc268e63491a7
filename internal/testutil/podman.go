package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Podman is a test's rootful Podman. Podman on the test machines runs
// containers with runc, the cgroupfs manager and no default ulimits (crun
// fails on setrlimit there): the test's own containers.conf and global
// flags set them, nothing global.
type Podman struct {
	t testing.TB
	// Bin is the podman program.
	Bin string
	// Globals are the flags given before every command; an endpoint's
	// runtimeArgs on this machine.
	Globals []string
	// Env is CONTAINERS_CONF=<the test's containers.conf>, for every
	// process that runs podman (a sluice serve starting image workers).
	Env []string
}

// NeedPodman returns the test's Podman (see NeedBinary: missing, it fails
// the test in CI and skips it elsewhere).
func NeedPodman(t testing.TB) *Podman {
	t.Helper()
	bin := NeedBinary(t, "podman")
	NeedBinary(t, "runc", "/usr/sbin/runc")
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Podman{t: t, Bin: bin, Globals: []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}, Env: []string{"CONTAINERS_CONF=" + conf}}
}

// Run runs podman with args and returns its stdout; a failure fails the test.
func (p *Podman) Run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.Bin, append(slices.Clone(p.Globals), args...)...)
	cmd.Env = append(os.Environ(), p.Env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// BuildScratch builds the Go main package pkg (relative to dir) with
// CGO_ENABLED=0 and an image FROM scratch holding it as /worker, with
// entrypoint /worker and then args. The image has a name of its own,
// returned, and is removed when the test ends.
func (p *Podman) BuildScratch(dir, pkg string, args ...string) string {
	p.t.Helper()
	ctx := p.t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctx, "worker"), pkg)
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		p.t.Fatalf("build %s without cgo: %v\n%s", pkg, err, out)
	}
	entry, err := json.Marshal(append([]string{"/worker"}, args...))
	if err != nil {
		p.t.Fatal(err)
	}
	cf := "FROM scratch\nCOPY worker /worker\nENTRYPOINT " + string(entry) + "\n"
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(cf), 0o644); err != nil {
		p.t.Fatal(err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	image := "localhost/sluice-test-" + hex.EncodeToString(r[:]) + ":1"
	p.Run("build", "--quiet", "--tag", image, ctx)
	p.t.Cleanup(func() { p.Run("rmi", "--force", image) })
	return image
}
