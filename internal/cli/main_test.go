package cli

import (
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.MainWith(m, func() (func(), error) {
		return func() {
			if binDir != "" {
				_ = os.RemoveAll(binDir)
			}
		}, nil
	})
}
