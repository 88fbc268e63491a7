package bench

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used so far:
// the server, the engine and the bench's clients, not the worker processes.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
