package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where every real part
// a test needs is installed by .ci/run and a missing one is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedBinary returns the path of the program name (looked up on PATH, then
// in the extra candidate paths). When it cannot be found the test fails in
// CI and is skipped elsewhere: a test that needs a real part (Chromium,
// Prometheus, Podman) never passes without it in CI.
func NeedBinary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	if InCI() {
		t.Fatalf("%s not found: .ci/run (scripts/test.sh) must install it", name)
	}
	t.Skipf("%s not found (install it to run this test; in CI it is required)", name)
	return ""
}
