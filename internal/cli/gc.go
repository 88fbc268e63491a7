package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// The memory policy of a process that runs the server (`sluice serve`,
// `sluice bench`). It allocates many short-lived objects per job over a live
// heap that grows with the jobs it remembers and the store's indexes, so:
//
//   - a soft memory limit (debug.SetMemoryLimit, like GOMEMLIMIT): --memory-limit,
//     else $GOMEMLIMIT, else half the physical memory;
//   - the collector's target (GOGC) follows the live heap: the heap may grow
//     by up to gcHeadroom beyond the live data, as GOGC 400 at most (cheap
//     collections while the heap is small, about 5-30% more jobs/s) and 50
//     at least (a large backlog costs little more than its live data).
//
// GOGC in the environment wins over the second.
const (
	gcHeadroom   = 256 << 20
	gcMaxPercent = 400
	gcMinPercent = 50
	gcEvery      = time.Second

	attrGOGC      = "gogc"
	attrLiveBytes = "live_bytes"
)

// tuneServerMemory applies the policy above until ctx ends. limit is the
// --memory-limit flag ("" for the default).
func tuneServerMemory(ctx context.Context, limit string, log *slog.Logger) error {
	switch {
	case limit != "":
		n, ok := config.ParseSize(limit)
		if !ok || n <= 0 {
			return fmt.Errorf("--memory-limit %q is not a size like 2GiB", limit)
		}
		debug.SetMemoryLimit(n)
	case os.Getenv("GOMEMLIMIT") == "":
		if total := physicalMemory(); total > 0 {
			debug.SetMemoryLimit(total / 2)
		}
	}
	if os.Getenv("GOGC") != "" {
		return nil
	}
	debug.SetGCPercent(gcMaxPercent)
	go followHeap(ctx, log)
	return nil
}

// followHeap sets GOGC from the live heap every gcEvery until ctx ends.
func followHeap(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := gcMaxPercent
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if p := gcPercent(s[0].Value.Uint64()); p != last {
			debug.SetGCPercent(p)
			log.Debug("memory: GOGC follows the live heap", attrGOGC, p, attrLiveBytes, s[0].Value.Uint64())
			last = p
		}
	}
}

// gcPercent is the GOGC that lets a heap with live bytes grow by gcHeadroom,
// within [gcMinPercent, gcMaxPercent].
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	p := int(math.Round(float64(gcHeadroom) * 100 / float64(live)))
	return min(max(p, gcMinPercent), gcMaxPercent)
}

// physicalMemory is the machine's memory in bytes (0 if unknown).
func physicalMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
