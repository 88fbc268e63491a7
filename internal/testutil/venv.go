package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunpodPython returns the python of the virtualenv with runpod-python that
// scripts/deps.sh installs ($SLUICE_VENV, else .venv at the module root,
// found from the test's directory up). When it is missing the test fails in
// CI and is skipped elsewhere.
func RunpodPython(t testing.TB) string {
	t.Helper()
	venv := os.Getenv("SLUICE_VENV")
	if venv == "" {
		dir, _ := os.Getwd()
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
		venv = filepath.Join(dir, ".venv")
	}
	python := filepath.Join(venv, "bin", "python")
	if err := exec.Command(python, "-c", "import runpod").Run(); err != nil {
		if InCI() {
			t.Fatalf("runpod-python is not installed in %s: %v (scripts/deps.sh installs it)", venv, err)
		}
		t.Skipf("runpod-python is not installed in %s (%v); scripts/deps.sh installs it", venv, err)
	}
	return python
}
