// Package deploy holds the install and deploy artefacts (container image,
// systemd unit, docker-compose example, Helm chart, GoReleaser config at the
// repository root) and the tests that build, lint, render or run each one.
package deploy

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

// loopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func loopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or timeout passes (then the test fails
// with what and the last detail cond returned).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
