package testutil

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests and then fails if any goroutine they started
// is still running: call it from TestMain.
func Main(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// MainWith is Main with a set-up run before the tests (building binaries,
// for example) and the clean-up it returns run after them; a failing
// set-up fails the package.
func MainWith(m *testing.M, setup func() (cleanup func(), err error)) {
	os.Exit(mainWith(m, setup))
}

func mainWith(m *testing.M, setup func() (cleanup func(), err error)) int {
	cleanup, err := setup()
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test set-up:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
