package cli

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is the garbage collector's target in a process that runs
// the server (`sluice serve`, `sluice bench`): it allocates many short-lived
// objects per job over a small live heap, so letting the heap grow to five
// times the live data costs a few MB and saves collector work (about 5-30%
// more jobs/s in `sluice bench`). GOGC in the environment wins.
const serverGCPercent = 400

// tuneServerGC applies serverGCPercent unless GOGC is set.
func tuneServerGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}
