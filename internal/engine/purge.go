package engine

// Purge in one step, whatever the backlog: the endpoint's queue subjects are
// purged (one request each, after one look at each consumer) and a purge mark is stored in the jobs stream
// (subject $KV.sluice_jobs.=purge.<ep>). The mark's sequence in that stream
// splits the records: a record still IN_QUEUE at a revision below it was
// queued before the purge, its entry is gone, and it reads as CANCELLED at
// the mark's time (load applies it; the next change to the record stores it,
// and it disappears after the retention like any terminal job). Submit stores
// a record before its queue entry, so an entry the purge removed always
// belongs to a record below the mark. A record the purge cancels this way
// gets no webhook call and no stop signal (it never ran), and stays on disk
// until its ttl (it reads as not found after the retention, like any other).
// A re-queue (retry, lost worker, release) stores its entry before its
// record; one whose entry a concurrent purge removes but whose record lands
// after the mark stays IN_QUEUE until cancelled or its ttl ends.
//
// Every engine keeps the marks of its endpoints (purges): read at Open,
// updated at once by its own purges and on another replica's purge nudge,
// and read again by every reaper pass in case a nudge was lost.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// purgeMark is an endpoint's purge: records IN_QUEUE at a revision up to
// Seq ended At, as Status (CANCELLED by purge-queue; FAILED with Error when
// an endpoint's workers crash-loop, FailQueued).
type purgeMark struct {
	Seq    uint64          `json:"seq,omitempty"` // in a nudge and in Prev; stored marks have it as their sequence
	At     time.Time       `json:"at"`
	Status Status          `json:"status,omitempty"` // default CANCELLED
	Error  json.RawMessage `json:"error,omitempty"`
	// Prev are the endpoint's earlier marks young enough to still split
	// records (a queued job lives at most maxBlobAge), oldest first, so a
	// job ended by an earlier mark keeps that mark's status.
	Prev []purgeMark `json:"prev,omitempty"`
}

const (
	purgePrefix = jobsPrefix + "=purge." // + <ep>
	nudgePurge  = "sluice.n.p."          // + ep: the endpoint was purged
	// purgeBudget bounds a purge, which goes on when its caller leaves.
	purgeBudget = time.Minute
)

// Purge cancels every IN_QUEUE job of the endpoint and returns how many
// queue entries it removed (less those of takes in flight). It goes on when
// ctx ends (up to purgeBudget).
func (e *Engine) Purge(ctx context.Context, endpoint string) (int, error) {
	return e.endQueued(ctx, endpoint, StatusCancelled, nil)
}

// endQueued ends every IN_QUEUE job of the endpoint as status with error
// errv, in one step (a mark), and returns how many queue entries it removed.
func (e *Engine) endQueued(ctx context.Context, endpoint string, status Status, errv json.RawMessage) (int, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeBudget)
	defer cancel()
	// Entries delivered to a take whose acknowledgement (sent without
	// waiting) is still on its way are removed too, but their jobs are
	// running, not cancelled: they are not counted.
	n := -e.ackPending(ctx, endpoint)
	for _, prio := range []string{prioNormal, prioLow} {
		k, err := e.purgeSubject(ctx, queueSubject(endpoint, prio))
		if err != nil {
			return max(n, 0), fmt.Errorf("purge %s: %w", endpoint, err)
		}
		n += k
	}
	at := time.Now().UTC()
	pm := purgeMark{At: at, Status: status, Error: errv, Prev: e.recentMarks(endpoint, at)}
	b, _ := json.Marshal(pm)
	ack, err := e.js.Publish(ctx, purgePrefix+endpoint, b)
	if err != nil {
		return max(n, 0), fmt.Errorf("purge %s: store mark: %w", endpoint, err)
	}
	n = max(n, 0)
	pm.Seq = ack.Sequence
	e.setPurgeMark(endpoint, pm)
	if o := e.observer(); o != nil && n > 0 {
		o.QueuedEnded(endpoint, status, n)
	}
	e.mem.forgetEndpoint(endpoint)
	if e.srv == nil { // other replicas (none can reach an embedded server)
		b, _ := json.Marshal(pm)
		if err := e.nc.Publish(nudgePurge+endpoint, b); err != nil {
			e.log.Debug("engine: purge nudge", attrEndpoint, endpoint, attrErr, err)
		}
	}
	return n, nil
}

// ackPending is how many of ep's queue entries are delivered to a take and
// not yet acknowledged (0 when unknown).
func (e *Engine) ackPending(ctx context.Context, ep string) int {
	c, err := e.consumersFor(ctx, ep)
	if err != nil {
		return 0
	}
	n := 0
	for _, cons := range []jetstream.Consumer{c.normal, c.low} {
		if info, err := cons.Info(ctx); err == nil {
			n += info.NumAckPending
		}
	}
	return n
}

// purgeSubject removes every queue entry on subject and returns how many.
func (e *Engine) purgeSubject(ctx context.Context, subject string) (int, error) {
	req, _ := json.Marshal(map[string]string{"filter": subject})
	msg, err := e.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+queueStream, req)
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", subject, err)
	}
	var resp struct {
		Purged int `json:"purged"`
		Error  *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("purge %s: %w", subject, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("purge %s: %s", subject, resp.Error.Description)
	}
	return resp.Purged, nil
}

// setPurgeMark notes ep's purge mark (with its Prev) unless a newer one is
// known.
func (e *Engine) setPurgeMark(ep string, m purgeMark) {
	e.purgeMu.Lock()
	defer e.purgeMu.Unlock()
	if m.Seq > e.purges[ep].Seq {
		e.purges[ep] = m
	}
}

// recentMarks is ep's known marks (the last and its Prev) that may still
// split live records at time now, oldest first.
func (e *Engine) recentMarks(ep string, now time.Time) []purgeMark {
	e.purgeMu.Lock()
	last, ok := e.purges[ep]
	e.purgeMu.Unlock()
	if !ok {
		return nil
	}
	var out []purgeMark
	for _, m := range append(slices.Clone(last.Prev), last) {
		if now.Sub(m.At) < maxBlobAge {
			m.Prev = nil
			out = append(out, m)
		}
	}
	return out
}

// loadPurgeMark reads ep's purge mark from the jobs stream.
func (e *Engine) loadPurgeMark(ctx context.Context, ep string) error {
	m, err := e.jobs.GetLastMsgForSubject(ctx, purgePrefix+ep)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("purge mark of %s: %w", ep, err)
	}
	var pm purgeMark
	if err := json.Unmarshal(m.Data, &pm); err != nil {
		return fmt.Errorf("purge mark of %s: %w", ep, err)
	}
	pm.Seq = m.Sequence
	e.setPurgeMark(ep, pm)
	return nil
}

// loadPurgeMarks reads the purge marks of every known endpoint.
func (e *Engine) loadPurgeMarks(ctx context.Context) error {
	e.mu.RLock()
	eps := make([]string, 0, len(e.endpoints))
	for ep := range e.endpoints {
		eps = append(eps, ep)
	}
	e.mu.RUnlock()
	for _, ep := range eps {
		if err := e.loadPurgeMark(ctx, ep); err != nil {
			return err
		}
	}
	return nil
}

// purgedView applies ep's purge mark to r, read at revision rev: a record
// still IN_QUEUE from before the mark is CANCELLED as of the purge.
func (e *Engine) purgedView(r *record, rev uint64) {
	if r.Status != StatusInQueue {
		return
	}
	e.purgeMu.Lock()
	last, ok := e.purges[r.Endpoint]
	e.purgeMu.Unlock()
	if !ok || rev > last.Seq {
		return
	}
	m := last
	for _, p := range last.Prev { // oldest first: the first mark at or above rev ended it
		if rev <= p.Seq {
			m = p
			break
		}
	}
	e.terminate(r, cmp.Or(m.Status, StatusCancelled), m.At)
	if len(m.Error) > 0 {
		r.Error = m.Error
	}
}

// remembered is the record this engine remembers for ep/id (memory.record)
// with the purge mark applied.
func (e *Engine) remembered(ep, id string) (*record, uint64, bool) {
	r, rev, ok := e.mem.record(ep, id)
	if ok {
		e.purgedView(r, rev)
	}
	return r, rev, ok
}
