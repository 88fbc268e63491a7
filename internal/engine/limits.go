package engine

// Backpressure: an endpoint's queue is bounded (EndpointSettings.MaxQueue),
// and the embedded store by Config.MaxStorage (JetStream's max_file_store).
// Errors that mean "full" or "not available right now" are told apart from
// others, so the HTTP layer answers 429 or 503 with Retry-After, never 500.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxQueue is an endpoint's queue bound when none is set: about 1 GB
// of server memory for small jobs.
const DefaultMaxQueue = 1_000_000

// depthFresh: Submit checks MaxQueue against a count at most this old (one
// request per endpoint per interval, not one per job).
const depthFresh = 250 * time.Millisecond

// JetStream error codes (nats-server's identifiers) the engine maps.
const (
	jsInsufficientResources = 10023 // account or server storage limit reached
	jsStorageExceeded       = 10047 // storage resources exceeded
	jsClusterNotAvailable   = 10008
	jsStreamOffline         = 10118
)

// StorageFull reports whether err comes from a store at its size limit
// (maxStorage) or out of disk.
func StorageFull(err error) bool {
	return isAPIErr(err, jsInsufficientResources, jsStorageExceeded)
}

// Unavailable reports whether err means JetStream did not answer or cannot
// serve right now (a node or the cluster down, a leader election, a
// restart): worth retrying later.
func Unavailable(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		(errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)) ||
		isAPIErr(err, jsClusterNotAvailable, jsStreamOffline) || StorageFull(err)
}

// depth is an endpoint's queued count as last read.
type depth struct {
	n  int
	at time.Time
}

// depths caches the endpoints' queue depths for Submit.
type depths struct {
	mu sync.Mutex
	m  map[string]depth
}

// checkQueue returns ErrQueueFull when endpoint ep's queue holds limit
// entries or more (by a count at most depthFresh old).
func (e *Engine) checkQueue(ctx context.Context, ep string, limit int) error {
	if limit <= 0 {
		return nil
	}
	e.depth.mu.Lock()
	d, ok := e.depth.m[ep]
	e.depth.mu.Unlock()
	if !ok || time.Since(d.at) > depthFresh {
		info, err := e.queue.Info(ctx, jetstream.WithSubjectFilter(queuePrefix+ep+".*"))
		if err != nil {
			return fmt.Errorf("submit: queue depth of %s: %w", ep, err)
		}
		d = depth{at: time.Now()}
		for _, n := range info.State.Subjects {
			d.n += int(n)
		}
		e.depth.mu.Lock()
		e.depth.m[ep] = d
		e.depth.mu.Unlock()
	}
	if d.n >= limit {
		return fmt.Errorf("submit to %s: %d jobs queued, at the endpoint's maxQueue of %d: %w", ep, d.n, limit, ErrQueueFull)
	}
	return nil
}

// queuedOne counts a job this engine queued in ep's cached depth.
func (e *Engine) queuedOne(ep string) {
	e.depth.mu.Lock()
	defer e.depth.mu.Unlock()
	if d, ok := e.depth.m[ep]; ok {
		d.n++
		e.depth.m[ep] = d
	}
}

// DefaultMaxStorage is the embedded store's size limit when none is set:
// half of what the store may use, which is the disk space free under dir (or
// its nearest existing parent) plus what the store under dir already holds,
// so a store that grew does not find itself over its limit at the next
// start. At least 1 GiB.
func DefaultMaxStorage(dir string) int64 {
	used := dirSize(dir)
	var st syscall.Statfs_t
	for syscall.Statfs(dir, &st) != nil {
		parent := filepath.Dir(dir)
		if parent == dir {
			return 0 // the server's own default
		}
		dir = parent
	}
	return max((int64(st.Bavail)*int64(st.Bsize)+used)/2, 1<<30) //nolint:unconvert // Bsize is uint32 on darwin
}

// dirSize is the size of the files under dir (0 if it does not exist).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil // unreadable parts count as empty
	})
	return n
}
