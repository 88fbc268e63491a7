package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leases index the jobs that may be IN_PROGRESS, for the reaper and the
// in-progress counters. They live in the jobs stream itself, under
// leasePrefix, so a take can send a job's lease and its IN_PROGRESS record
// together and wait once: the stream stores messages in the order they came
// on one connection, so a stored record always has its lease stored before it
// (after a crash, too). The lease is removed once the job has left
// IN_PROGRESS; one left behind is removed by the reaper, and every lease
// expires with its job's ttl.

// lease is the index entry of a job that may be IN_PROGRESS.
type lease struct {
	Epoch    int       `json:"epoch"`
	Worker   string    `json:"worker"`
	At       time.Time `json:"at"`
	Deadline time.Time `json:"deadline"` // execution deadline
	Expire   time.Time `json:"expire"`   // end of the job's ttl
}

// leaseSubject is the subject of ep/id's lease in the jobs stream.
func leaseSubject(ep, id string) string { return leasePrefix + ep + "." + id }

// leaseMsg is the message that stores l as ep/id's lease. It carries a TTL
// past the end of the job's ttl, so a lease nobody removed goes by itself.
func leaseMsg(ep, id string, l lease) (*nats.Msg, []jetstream.PublishOpt) {
	b, _ := json.Marshal(l)
	ttl := time.Until(l.Expire).Round(time.Second) + time.Minute
	return &nats.Msg{Subject: leaseSubject(ep, id), Data: b}, []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl)}
}

// putLease stores l as ep/id's lease and returns its revision.
func (e *Engine) putLease(ctx context.Context, ep, id string, l lease) (uint64, error) {
	m, opts := leaseMsg(ep, id, l)
	ack, err := e.js.PublishMsg(ctx, m, opts...)
	if err != nil {
		return 0, fmt.Errorf("lease of job %s: %w", id, err)
	}
	return ack.Sequence, nil
}

// getLease reads ep/id's lease and its revision.
func (e *Engine) getLease(ctx context.Context, ep, id string) (lease, uint64, error) {
	var l lease
	m, err := e.jobs.GetLastMsgForSubject(ctx, leaseSubject(ep, id))
	if err != nil {
		if isNotFound(err) {
			return l, 0, fmt.Errorf("lease of job %s: %w", id, ErrNotFound)
		}
		return l, 0, fmt.Errorf("lease of job %s: %w", id, err)
	}
	if err := json.Unmarshal(m.Data, &l); err != nil {
		return l, 0, fmt.Errorf("decode lease of job %s: %w", id, err)
	}
	return l, m.Sequence, nil
}

// leaseKeys lists the leases (as ep.id) of one endpoint ("" for all).
func (e *Engine) leaseKeys(ctx context.Context, endpoint string) ([]string, error) {
	filter := "*.*"
	if endpoint != "" {
		filter = endpoint + ".*"
	}
	return subjectKeys(ctx, e.jobs, leasePrefix, filter)
}

// dropLease deletes the lease of ep/id if it belongs to epoch (a newer take
// of a retried job keeps its own lease).
func (e *Engine) dropLease(ctx context.Context, ep, id string, epoch int) {
	if l, ok := e.mem.takeLease(ep, id); ok && l.epoch == epoch {
		// The revision this engine wrote for the epoch: purging up to it
		// never removes a newer lease.
		e.purgeLease(ctx, ep, id, l.rev)
		return
	}
	l, rev, err := e.getLease(ctx, ep, id)
	if err != nil || l.Epoch > epoch {
		return
	}
	e.purgeLease(ctx, ep, id, rev)
}

// purgeLease removes revision rev of a lease (and older ones) without leaving
// a delete marker; a newer revision written meanwhile stays.
func (e *Engine) purgeLease(ctx context.Context, ep, id string, rev uint64) {
	err := e.jobs.Purge(ctx, jetstream.WithPurgeSubject(leaseSubject(ep, id)), jetstream.WithPurgeSequence(rev+1))
	if err != nil {
		e.log.Debug("engine: drop lease", attrEndpoint, ep, attrJob, id, attrWorker, "", attrErr, err)
	}
}

// claimWrite stores the lease of a take and the job's new record r (changed
// from revision rev) at once: the lease is sent first, so the stream stores
// it first. It returns the record's new revision, or errCAS when the record
// changed meanwhile (the lease is stored then; the caller retries the record
// alone). A record stored without its lease (the lease's write failed) gets
// its lease written again; if that fails too, the job goes back to the queue.
func (e *Engine) claimWrite(ctx context.Context, r *record, rev uint64, l lease) (uint64, error) {
	ep, id := r.Endpoint, r.ID
	lm, lopts := leaseMsg(ep, id, l)
	rm, ropts, err := recordMsg(r, rev)
	if err != nil {
		return 0, err
	}
	lf, lerr := e.js.PublishMsgAsync(lm, lopts...)
	if lerr != nil {
		return 0, fmt.Errorf("take job %s: lease: %w", id, lerr)
	}
	rf, rerr := e.js.PublishMsgAsync(rm, ropts...)
	lack, lerr := awaitAck(ctx, lf)
	var rack *jetstream.PubAck
	if rerr == nil {
		rack, rerr = awaitAck(ctx, rf)
	}
	nrev, rerr := writeResult(r, rack, rerr)
	if lerr == nil {
		e.mem.leaseWritten(ep, id, l.Epoch, lack.Sequence)
	}
	switch {
	case lerr == nil:
		if rerr != nil && !errors.Is(rerr, errCAS) && !answered(rerr) {
			return 0, fmt.Errorf("%w: %w", errUnknownOutcome, rerr)
		}
		return nrev, rerr
	case rerr != nil:
		return 0, fmt.Errorf("take job %s: lease: %w", id, lerr)
	}
	// The record is IN_PROGRESS but its lease was not stored: write it again,
	// or undo the take, so the job is never IN_PROGRESS unindexed.
	e.mem.stored(r, nrev)
	lrev, err := e.putLease(ctx, ep, id, l)
	if err == nil {
		e.mem.leaseWritten(ep, id, l.Epoch, lrev)
		return nrev, nil
	}
	if rerr := e.release(context.WithoutCancel(ctx), ep, id, l.Worker); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return 0, fmt.Errorf("take job %s: %w", id, err)
}

// errUnknownOutcome: a record write got no answer (a timeout, a lost
// connection), so it may or may not be stored.
var errUnknownOutcome = errors.New("record write without an answer")

// answered reports whether err is the server's answer to a request (so the
// write it answers was not applied), rather than a missing answer.
func answered(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr)
}

// resolveClaim finds out whether the IN_PROGRESS record of a take whose
// write got no answer (errUnknownOutcome; its lease is stored) was stored
// after all, by reading it: stored is true when the record is the one the
// take wrote (same worker, epoch and start). unknown is true when even the
// read failed; the lease must then stay, so the reaper settles the job.
func (e *Engine) resolveClaim(ctx context.Context, want *record) (r *record, rev uint64, stored, unknown bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r, rev, err := e.load(ctx, want.Endpoint, want.ID)
	if err != nil {
		return nil, 0, false, !errors.Is(err, ErrNotFound)
	}
	stored = r.Status == StatusInProgress && r.Owner == want.Owner && r.Epoch == want.Epoch && r.StartedAt.Equal(want.StartedAt)
	return r, rev, stored, false
}

// moveOldLeases moves the leases of an engine before leases moved into the
// jobs stream (stream KV_sluice_leases, keys <ep>.<id>) to their new place
// and deletes the old stream. Several replicas may do it at once: a lease
// moved twice is the same lease, and a stale one is removed by the reaper.
func (e *Engine) moveOldLeases(ctx context.Context) error {
	old, err := e.js.Stream(ctx, oldLeases)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for old leases: %w", err)
	}
	const prefix = "$KV.sluice_leases."
	keys, err := subjectKeys(ctx, old, prefix, "*.*")
	if err != nil {
		return fmt.Errorf("move old leases: %w", err)
	}
	for _, k := range keys {
		ep, id, _ := strings.Cut(k, ".")
		m, err := old.GetLastMsgForSubject(ctx, prefix+k)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("move old lease %s: %w", k, err)
		}
		var l lease
		if json.Unmarshal(m.Data, &l) != nil {
			continue
		}
		if _, err := e.putLease(ctx, ep, id, l); err != nil {
			return fmt.Errorf("move old lease %s: %w", k, err)
		}
	}
	if err := e.js.DeleteStream(ctx, oldLeases); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete old leases: %w", err)
	}
	e.log.Info("engine: moved leases into the jobs stream", attrLeases, len(keys))
	return nil
}
