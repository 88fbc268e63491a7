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

// unquoteEnv turns `sluice worker-env` lines (KEY='value') into KEY=value.
func unquoteEnv(t *testing.T, out string) []string {
	t.Helper()
	var env []string
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			t.Fatalf("worker-env line %q is not KEY='value'", line)
		}
		env = append(env, k+"="+strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`))
	}
	return env
}

func itoa(n int) string { return strconv.Itoa(n) }
