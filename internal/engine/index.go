package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The listing index (listing.go): per endpoint, the retained jobs by id and,
// per status, in a B-tree ordered newest first.

// indexEntry is one job in the index.
type indexEntry struct {
	id     string
	at     int64  // CreatedAt, Unix ns
	expire int64  // ExpireAt, Unix ns (0: unknown)
	seq    uint64 // revision of the record last applied
	status uint8  // index in ListStatuses
}

// newerFirst orders entries newest submission first, then by id.
func newerFirst(a, b *indexEntry) bool {
	if a.at != b.at {
		return a.at > b.at
	}
	return a.id > b.id
}

type epIndex struct {
	byID map[string]*indexEntry
	by   []*btree.BTreeG[*indexEntry] // per status
}

func newEpIndex() *epIndex {
	x := &epIndex{byID: map[string]*indexEntry{}}
	for range ListStatuses {
		x.by = append(x.by, btree.NewG(32, newerFirst))
	}
	return x
}

// indexWaiter waits until the index applied the stream up to seq.
type indexWaiter struct {
	seq  uint64
	done chan struct{}
}

type listIndex struct {
	e *Engine

	mu      sync.RWMutex
	eps     map[string]*epIndex
	applied uint64 // last stream sequence applied
	caught  uint64 // every message up to this stream sequence is applied (drain)
	built   bool   // a drain reached the end of the stream once
	waiters []indexWaiter

	cons    jetstream.Consumer // on every record and purge mark (follow's goroutine only)
	consSeq uint64             // consumer sequence of the last message fetched
	kick    chan struct{}      // asks follow to drain now
}

// How often the index reads the stream without being asked, and drops
// expired entries.
const (
	indexPoll  = time.Second
	indexSweep = time.Minute
)

// listIndex returns the engine's index, starting it on first use.
func (e *Engine) listIndex(ctx context.Context) (*listIndex, error) {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	if e.index != nil {
		return e.index, nil
	}
	ix := &listIndex{e: e, eps: map[string]*epIndex{}, kick: make(chan struct{}, 1)}
	if err := ix.newConsumer(ctx); err != nil {
		return nil, err
	}
	e.wg.Go(ix.follow)
	e.index = ix
	return ix, nil
}

// follow reads the jobs stream into the index in batches: when a List
// needs it (kick) and every indexPoll, never per message, so a record
// write costs the hot path nothing more while the index runs.
func (ix *listIndex) follow() {
	e := ix.e
	poll := time.NewTicker(indexPoll)
	defer poll.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-ix.kick:
		case <-poll.C:
		}
		if err := ix.drain(); err != nil && !e.closed() {
			e.log.Debug("engine: job index", attrErr, err)
		}
		if now := time.Now(); now.Sub(lastSweep) >= indexSweep {
			ix.sweep(now)
			lastSweep = now
		}
	}
}

// indexBatch is how many stream messages one fetch of the index asks for.
const indexBatch = 8192

// drain applies every message stored since the last drain. Messages
// deleted meanwhile (an older revision, a lease) never arrive, so the index
// is known to be caught up with the stream's last sequence as read before a
// drain that found nothing more.
func (ix *listIndex) drain() error {
	ctx, cancel := context.WithTimeout(ix.e.ctx, 30*time.Second)
	defer cancel()
	info, err := ix.e.jobs.Info(ctx)
	if err != nil {
		return fmt.Errorf("job index: %w", err)
	}
	last := info.State.LastSeq
	if ix.cons == nil {
		if err := ix.newConsumer(ctx); err != nil {
			return err
		}
	}
	for {
		n, err := ix.fetch()
		if err != nil {
			ix.cons = nil // made again, from the last message applied, at the next drain
			return err
		}
		if n == 0 { // a short batch is not the end: the server sends what it has at hand
			break
		}
	}
	ix.mu.Lock()
	ix.caught = max(ix.caught, last)
	ix.built = true
	ix.wake()
	ix.mu.Unlock()
	return nil
}

// newConsumer creates the index's consumer: ephemeral, unacknowledged,
// starting after the last message applied. Its creation counts the
// messages it will deliver (a scan of the stream), so it is made once and
// fetched from, not made again per batch.
func (ix *listIndex) newConsumer(ctx context.Context) error {
	ix.mu.RLock()
	start := ix.applied + 1
	ix.mu.RUnlock()
	cons, err := ix.e.jobs.CreateConsumer(ctx, jetstream.ConsumerConfig{
		// No filter: with one on $KV.sluice_jobs.*.* the build of a
		// million records was several times slower (BenchmarkListFirstPage);
		// apply skips leases, keys and delivery states instead.
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		AckPolicy:     jetstream.AckNonePolicy,
		// follow fetches every indexPoll; a consumer left by a closed
		// engine goes away by itself.
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("job index: consumer: %w", err)
	}
	ix.cons, ix.consSeq = cons, 0
	return nil
}

// fetch applies the messages one fetch returns and says how many.
func (ix *listIndex) fetch() (int, error) {
	batch, err := ix.cons.FetchNoWait(indexBatch)
	if err != nil {
		return 0, fmt.Errorf("job index: fetch: %w", err)
	}
	n := 0
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil || meta.Sequence.Consumer != ix.consSeq+1 {
			// A gap (or a message that cannot be placed): start again
			// from the last message applied.
			for range batch.Messages() {
			}
			return n, fmt.Errorf("job index: consumer sequence %d after %d", metaSeq(meta), ix.consSeq)
		}
		ix.consSeq = meta.Sequence.Consumer
		ix.apply(m, meta.Sequence.Stream)
		n++
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		return n, fmt.Errorf("job index: fetch: %w", err)
	}
	return n, nil
}

func metaSeq(meta *jetstream.MsgMetadata) uint64 {
	if meta == nil {
		return 0
	}
	return meta.Sequence.Consumer
}

// indexRec is the part of a record the index reads.
type indexRec struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	ExpireAt  time.Time `json:"expireAt"`
}

// apply takes one message of the jobs stream, at sequence seq, into the index.
func (ix *listIndex) apply(m jetstream.Msg, seq uint64) {
	key := strings.TrimPrefix(m.Subject(), jobsPrefix)
	ep, id, _ := strings.Cut(key, ".")
	var rec indexRec
	var mark *purgeMark
	del := len(m.Data()) == 0 || m.Headers().Get("KV-Operation") != ""
	switch {
	case ep == "=purge":
		ep, id = id, ""
		mark = new(purgeMark)
		if json.Unmarshal(m.Data(), mark) != nil {
			mark = nil
		} else {
			mark.Seq = seq
		}
	case strings.HasPrefix(ep, "="):
	case !del:
		if !scanIndexRec(m.Data(), &rec) {
			rec = indexRec{}
			if json.Unmarshal(m.Data(), &rec) != nil {
				del = true
			}
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.applied = seq
	ix.caught = max(ix.caught, seq)
	switch {
	case mark != nil:
		ix.applyMark(ep, mark)
	case strings.HasPrefix(ep, "="):
	case del:
		ix.drop(ep, id)
	default:
		st := slices.Index(ListStatuses, rec.Status)
		if st < 0 || rec.ID != id {
			break
		}
		exp := rec.ExpireAt.UnixNano()
		if !rec.ExpireAt.IsZero() && exp <= time.Now().UnixNano() {
			ix.drop(ep, id)
			break
		}
		ix.put(ep, &indexEntry{id: id, at: rec.CreatedAt.UnixNano(), expire: exp, seq: seq, status: uint8(st)})
	}
	ix.wake()
}

// wake releases the waiters the applied sequence satisfies (under mu).
func (ix *listIndex) wake() {
	if len(ix.waiters) == 0 {
		return
	}
	ix.waiters = slices.DeleteFunc(ix.waiters, func(w indexWaiter) bool {
		if w.seq <= ix.caught {
			close(w.done)
			return true
		}
		return false
	})
}

// put stores ne, or updates the entry it replaces (under mu).
func (ix *listIndex) put(ep string, ne *indexEntry) {
	x := ix.eps[ep]
	if x == nil {
		x = newEpIndex()
		ix.eps[ep] = x
	}
	old := x.byID[ne.id]
	if old == nil {
		x.byID[ne.id] = ne
		x.by[ne.status].ReplaceOrInsert(ne)
		return
	}
	if ne.seq < old.seq {
		return
	}
	if old.status != ne.status || old.at != ne.at {
		x.by[old.status].Delete(old)
		old.status, old.at = ne.status, ne.at
		x.by[old.status].ReplaceOrInsert(old)
	}
	old.seq, old.expire = ne.seq, ne.expire
}

// drop removes a job (under mu).
func (ix *listIndex) drop(ep, id string) {
	x := ix.eps[ep]
	if x == nil {
		return
	}
	if old := x.byID[id]; old != nil {
		x.by[old.status].Delete(old)
		delete(x.byID, id)
	}
}

// applyMark ends the endpoint's IN_QUEUE entries a purge mark covers, as
// purgedView does for a record (under mu).
func (ix *listIndex) applyMark(ep string, m *purgeMark) {
	x := ix.eps[ep]
	if x == nil {
		return
	}
	q := x.by[slices.Index(ListStatuses, StatusInQueue)]
	var ended []*indexEntry
	q.Ascend(func(en *indexEntry) bool {
		if en.seq <= m.Seq {
			ended = append(ended, en)
		}
		return true
	})
	for _, en := range ended {
		st := cmp.Or(m.Status, StatusCancelled)
		for _, p := range m.Prev { // oldest first
			if en.seq <= p.Seq {
				st = cmp.Or(p.Status, StatusCancelled)
				break
			}
		}
		q.Delete(en)
		en.status = uint8(slices.Index(ListStatuses, st))
		x.by[en.status].ReplaceOrInsert(en)
	}
}

// sweep drops entries whose record expired by now.
func (ix *listIndex) sweep(now time.Time) {
	ns := now.UnixNano()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, x := range ix.eps {
		for id, en := range x.byID {
			if en.expire != 0 && en.expire <= ns {
				x.by[en.status].Delete(en)
				delete(x.byID, id)
			}
		}
	}
}

// remove drops a job whose record a page found gone.
func (ix *listIndex) remove(ep, id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.drop(ep, id)
}

// correct moves a job to the status its record showed at revision rev,
// unless the index already applied a later one.
func (ix *listIndex) correct(ep, id string, status uint8, rev uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	x := ix.eps[ep]
	if x == nil {
		return
	}
	if en := x.byID[id]; en != nil && en.seq <= rev && en.status != status {
		x.by[en.status].Delete(en)
		en.status = status
		x.by[en.status].ReplaceOrInsert(en)
	}
}

// page returns up to n entries of ep in the given statuses after from (nil:
// from the newest), newest first. The entries are copies.
func (ix *listIndex) page(ep string, statuses []uint8, from *indexEntry, n int) []indexEntry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	x := ix.eps[ep]
	if x == nil {
		return nil
	}
	var out []indexEntry
	for _, st := range statuses {
		k := 0
		visit := func(en *indexEntry) bool {
			if from != nil && en.at == from.at && en.id == from.id {
				return true // the cursor's own job
			}
			out = append(out, *en)
			k++
			return k < n
		}
		if from == nil {
			x.by[st].Ascend(visit)
		} else {
			x.by[st].AscendGreaterOrEqual(from, visit)
		}
	}
	if len(statuses) > 1 {
		slices.SortFunc(out, func(a, b indexEntry) int {
			if newerFirst(&a, &b) {
				return -1
			}
			return 1
		})
	}
	return out[:min(n, len(out))]
}

// sync waits until the index has applied every record stored before the
// call (so a job just submitted through any replica is listed), at most
// listSyncWait; then the index answers as it is.
func (ix *listIndex) sync(ctx context.Context, ep string) error {
	info, err := ix.e.jobs.Info(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", ep, err)
	}
	ix.mu.Lock()
	if ix.caught >= info.State.LastSeq {
		ix.mu.Unlock()
		return nil
	}
	w := indexWaiter{seq: info.State.LastSeq, done: make(chan struct{})}
	ix.waiters = append(ix.waiters, w)
	wait := listSyncWait
	if !ix.built {
		wait = listBuildWait // a partial index would miss the newest jobs
	}
	ix.mu.Unlock()
	select {
	case ix.kick <- struct{}{}:
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		ix.e.log.Warn("engine: job index behind the jobs stream; listing what it has", attrEndpoint, ep)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("list %s: %w", ep, ctx.Err())
	case <-ix.e.ctx.Done():
		return ErrClosed
	}
}
