package engine

import (
	"bytes"
	"strings"
	"sync"
)

// What this engine remembers of the jobs it changed (a record's last revision, a lease's revision), so a worker's
// result or progress is stored without reading the record first and its
// lease is removed without reading it. Remembered values are only hints: every
// change is still a compare-and-set on the record's revision, and a stale
// hint fails it and is replaced by a fresh read.

// maxRemembered bounds each memory's count and rememberedBytes the records'
// size; on overflow a memory starts over (hints only). recOverhead is a
// remembered record's size besides its inline values.
const (
	maxRemembered   = 20_000
	rememberedBytes = 8 << 20
	recOverhead     = 512
)

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
	mu       sync.Mutex
	recs     map[string]heldRec
	recBytes int // size of recs (valuesSize + recOverhead each)
	leases   map[string]leaseMark
	done     map[string]heldRec // terminal records with small values, for local waiters
	qseqs    map[string]uint64  // queue entry sequence of jobs this engine queued
}

// maxFinished bounds the terminal records remembered; rememberFinishedMax
// bounds the values of each.
const (
	maxFinished         = 4096
	rememberFinishedMax = 4 << 10
)

func newMemory() *memory {
	return &memory{recs: map[string]heldRec{}, leases: map[string]leaseMark{}, done: map[string]heldRec{},
		qseqs: map[string]uint64{}}
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
	m.dropRec(k)
	if !keep {
		return
	}
	size := valuesSize(r) + recOverhead
	if len(m.recs) >= maxRemembered || m.recBytes+size > rememberedBytes {
		clear(m.recs)
		m.recBytes = 0
	}
	h := heldRec{r: *r, rev: rev}
	// The caller's input buffer is not ours to keep (Submit's comes from the request).
	h.r.Input = bytes.Clone(r.Input)
	m.recs[k] = h
	m.recBytes += size
}

// dropRec forgets the record of key k (under mu).
func (m *memory) dropRec(k string) {
	if h, ok := m.recs[k]; ok {
		m.recBytes -= valuesSize(&h.r) + recOverhead
		delete(m.recs, k)
	}
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
	m.dropRec(jobKey(ep, id))
	m.mu.Unlock()
}

// forgetEndpoint drops everything remembered of the jobs of ep (a purge).
func (m *memory) forgetEndpoint(ep string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.recs {
		if strings.HasPrefix(k, ep+".") {
			m.dropRec(k)
		}
	}
	for k := range m.qseqs {
		if strings.HasPrefix(k, ep+".") {
			delete(m.qseqs, k)
		}
	}
}

// queued notes the sequence of the queue entry this engine stored for ep/id.
func (m *memory) queued(ep, id string, seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.qseqs) >= maxRemembered {
		clear(m.qseqs)
	}
	m.qseqs[jobKey(ep, id)] = seq
}

// takeQueued returns and forgets the queue entry sequence noted for ep/id.
func (m *memory) takeQueued(ep, id string) (uint64, bool) {
	k := jobKey(ep, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	seq, ok := m.qseqs[k]
	delete(m.qseqs, k)
	return seq, ok
}

// forgetKey drops everything remembered of the job with key k (ep.id):
// another replica changed it.
func (m *memory) forgetKey(k string) {
	m.mu.Lock()
	m.dropRec(k)
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
