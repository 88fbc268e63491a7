package engine

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Nudge subjects (core NATS, published after the change is stored).
const (
	nudgeQueue = "sluice.n.q." // + ep: a queue entry is available
	nudgeJob   = "sluice.n.j." // + ep.id: a job record changed or a chunk was added
	nudgeStop  = "sluice.n.s." // + ep.worker: a stop signal for the worker
)

// waker hands out channels closed at the next nudge on a subject. One
// wildcard subscription per engine feeds it (see Open).
type waker struct {
	mu sync.Mutex
	m  map[string]*wakeEntry
}

type wakeEntry struct {
	c chan struct{}
	n int // waiters holding c
}

func newWaker() *waker { return &waker{m: map[string]*wakeEntry{}} }

// wait returns a channel closed at the next nudge on subject and a func the
// caller runs when it stops waiting. Take the channel before reading the
// state it guards, so a change stored after the read cannot be missed.
func (w *waker) wait(subject string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ent := w.m[subject]
	if ent == nil {
		ent = &wakeEntry{c: make(chan struct{})}
		w.m[subject] = ent
	}
	ent.n++
	return ent.c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if cur := w.m[subject]; cur == ent {
			if ent.n--; ent.n == 0 {
				delete(w.m, subject)
			}
		}
	}
}

// fire wakes the waiters of subject.
func (w *waker) fire(subject string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ent := w.m[subject]; ent != nil {
		close(ent.c)
		delete(w.m, subject)
	}
}

// jobNudgeKey is the waker subject of a job's nudges.
func jobNudgeKey(ep, id string) string { return nudgeJob + ep + "." + id }

// nudge wakes the waiters on subject: this engine's at once, in process, and
// other replicas' through NATS (the connection does not echo its own
// messages, so a local waiter is not woken twice). The embedded server
// listens on no port, so no other replica can be connected to it: nothing is
// published then.
func (e *Engine) nudge(subject string) {
	if ep, ok := strings.CutPrefix(subject, nudgeQueue); ok {
		e.wakeQueue(ep)
	} else {
		e.nudges.fire(subject)
	}
	if e.srv != nil {
		return
	}
	if err := e.nc.Publish(subject, nil); err != nil {
		e.log.Debug("engine: nudge", attrSubject, subject, attrErr, err)
	}
}

// queueWake returns a channel closed at the next queue nudge for endpoint.
// One subscription per engine serves every parked Take.
func (e *Engine) queueWake(endpoint string) <-chan struct{} {
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	c := e.wake[endpoint]
	if c == nil {
		c = make(chan struct{})
		e.wake[endpoint] = c
	}
	return c
}

// onQueueNudge wakes the Takes parked on an endpoint for another replica's nudge.
func (e *Engine) onQueueNudge(m *nats.Msg) { e.wakeQueue(strings.TrimPrefix(m.Subject, nudgeQueue)) }

// onNudge handles another replica's job or stop nudge (the connection does
// not echo this engine's own): a job changed elsewhere is forgotten, so the
// next use of it reads it, and its waiters wake.
func (e *Engine) onNudge(m *nats.Msg) {
	if k, ok := strings.CutPrefix(m.Subject, nudgeJob); ok {
		e.mem.forgetKey(k)
	}
	if ep, ok := strings.CutPrefix(m.Subject, nudgePurge); ok {
		// The nudge carries the mark; a lost one is read by the reaper.
		var pm purgeMark
		if json.Unmarshal(m.Data, &pm) == nil {
			e.setPurgeMark(ep, pm)
		}
		e.mem.forgetEndpoint(ep)
		return
	}
	e.nudges.fire(m.Subject)
}

// wakeQueue wakes the Takes parked on endpoint ep.
func (e *Engine) wakeQueue(ep string) {
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	if c := e.wake[ep]; c != nil {
		close(c)
		delete(e.wake, ep)
	}
}

// sleep waits for a nudge, the re-check interval, ctx or Close. It returns
// ctx's error, ErrClosed, or nil.
func (e *Engine) sleep(ctx context.Context, c <-chan struct{}) error {
	_, err := e.sleepFor(ctx, c, recheck)
	return err
}

// sleepFor waits for a nudge on c (woke), d, ctx or Close.
func (e *Engine) sleepFor(ctx context.Context, c <-chan struct{}, d time.Duration) (woke bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-e.ctx.Done():
		return false, ErrClosed
	}
}
