package engine

import (
	"bytes"
	"sync"
)

// This file holds what keeps the per-job path short: one shared subscription
// for waiters on job and stop nudges (instead of a subscription, a flush and
// an unsubscription per long poll), and what this engine remembers of the jobs
// it changed (a record's last revision, a lease's revision), so a worker's
// result or progress is stored without reading the record first and its
// lease is removed without reading it. Remembered values are only hints: every
// change is still a compare-and-set on the record's revision, and a stale
// hint fails it and is replaced by a fresh read.

// maxRemembered bounds each memory; on overflow it starts over (hints only).
const maxRemembered = 20_000

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

// heldRec is a record as this engine last stored it, with its revision.
type heldRec struct {
	r   record
	rev uint64
}

// leaseMark is the revision of a lease this engine wrote for a job's epoch.
type leaseMark struct {
	epoch int
	rev   uint64
}

// memory remembers the last record this engine stored for IN_PROGRESS jobs
// and the leases it wrote.
type memory struct {
	mu     sync.Mutex
	recs   map[string]heldRec
	leases map[string]leaseMark
	done   map[string]heldRec // terminal records with small values, for local waiters
}

// maxFinished bounds the terminal records remembered; rememberFinishedMax
// bounds the values of each.
const (
	maxFinished         = 4096
	rememberFinishedMax = 4 << 10
)

func newMemory() *memory {
	return &memory{recs: map[string]heldRec{}, leases: map[string]leaseMark{}, done: map[string]heldRec{}}
}

// finished returns a copy of the terminal record of ep/id this engine stored
// last, with its revision. Only a waiter that read an older revision and was
// woken since may use it: it is the state that woke it.
func (m *memory) finished(ep, id string) (*record, uint64, bool) {
	m.mu.Lock()
	h, ok := m.done[jobKey(ep, id)]
	m.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	r := h.r
	return &r, h.rev, true
}

// valuesSize is the size of the values a record holds inline.
func valuesSize(r *record) int {
	n := len(r.Input) + len(r.Output) + len(r.Error)
	for k, v := range r.Extra {
		n += len(k) + len(v)
	}
	return n
}

// rememberQueuedMax: a queued record is remembered (for its take) only when
// its inline values are at most this large, so the memory stays small.
const rememberQueuedMax = 1 << 10

// stored notes a record this engine just stored at rev: kept while the job is
// IN_PROGRESS (a worker's next call changes it) or IN_QUEUE with small values
// (a take changes it next), forgotten otherwise.
func (m *memory) stored(r *record, rev uint64) {
	k := jobKey(r.Endpoint, r.ID)
	keep := r.Status == StatusInProgress ||
		r.Status == StatusInQueue && valuesSize(r) <= rememberQueuedMax
	m.mu.Lock()
	defer m.mu.Unlock()
	// Stores can finish out of order (a submit's acknowledgement read after
	// a worker already finished the job): never replace a newer revision.
	if h, ok := m.done[k]; ok && h.rev > rev {
		return
	}
	if h, ok := m.recs[k]; ok && h.rev > rev {
		return
	}
	if r.Status.Terminal() && valuesSize(r) <= rememberFinishedMax {
		if len(m.done) >= maxFinished {
			clear(m.done)
		}
		h := heldRec{r: *r, rev: rev}
		h.r.Input, h.r.Output, h.r.Error = bytes.Clone(r.Input), bytes.Clone(r.Output), bytes.Clone(r.Error)
		m.done[k] = h
	} else {
		delete(m.done, k)
	}
	if !keep {
		delete(m.recs, k)
		return
	}
	if len(m.recs) >= maxRemembered {
		clear(m.recs)
	}
	h := heldRec{r: *r, rev: rev}
	// The caller's input buffer is not ours to keep (Submit's comes from the request).
	h.r.Input = bytes.Clone(r.Input)
	m.recs[k] = h
}

// record returns a copy of the remembered record of ep/id and its revision.
func (m *memory) record(ep, id string) (*record, uint64, bool) {
	m.mu.Lock()
	h, ok := m.recs[jobKey(ep, id)]
	m.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	r := h.r
	return &r, h.rev, true
}

// forget drops the remembered record of ep/id.
func (m *memory) forget(ep, id string) {
	m.mu.Lock()
	delete(m.recs, jobKey(ep, id))
	m.mu.Unlock()
}

// forgetKey drops everything remembered of the job with key k (ep.id):
// another replica changed it.
func (m *memory) forgetKey(k string) {
	m.mu.Lock()
	delete(m.recs, k)
	delete(m.done, k)
	m.mu.Unlock()
}

// leaseWritten notes the revision of the lease written for ep/id's epoch.
func (m *memory) leaseWritten(ep, id string, epoch int, rev uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.leases) >= maxRemembered {
		clear(m.leases)
	}
	m.leases[jobKey(ep, id)] = leaseMark{epoch: epoch, rev: rev}
}

// takeLease returns and forgets the lease revision noted for ep/id.
func (m *memory) takeLease(ep, id string) (leaseMark, bool) {
	k := jobKey(ep, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[k]
	delete(m.leases, k)
	return l, ok
}

// jobNudgeKey is the waker subject of a job's nudges.
func jobNudgeKey(ep, id string) string { return nudgeJob + ep + "." + id }
