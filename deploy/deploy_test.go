// Package deploy holds the install and deploy artefacts (container image,
// systemd unit, docker-compose example, Helm chart, GoReleaser config at the
// repository root) and the tests that build, lint, render or run each one.
package deploy

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository root (this package is deploy/).
var repoRoot, _ = filepath.Abs("..")

// run runs name with args in dir (the repository root when empty) and
// returns its combined output; a failure ends the test with that output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = repoRoot
	}
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// envLines splits `sluice worker-env --format env` output (KEY=value lines).
func envLines(t *testing.T, out string) []string {
	t.Helper()
	var env []string
	for line := range strings.Lines(out) {
		kv := strings.TrimSpace(line)
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " '") {
			t.Fatalf("worker-env line %q is not KEY=value", line)
		}
		env = append(env, kv)
	}
	return env
}

func itoa(n int) string { return strconv.Itoa(n) }
