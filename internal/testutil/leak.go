package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests and then fails if any goroutine they started
// is still running: call it from TestMain.
func Main(m *testing.M) {
	goleak.VerifyTestMain(m)
}
