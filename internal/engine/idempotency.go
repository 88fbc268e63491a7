package engine

// Idempotent submit: a claim per endpoint and key,
// $KV.sluice_jobs.=idem.<endpoint>.<sha256(key)>, holding the job id and the
// request's hash. A claim is created with expected last subject sequence 0,
// so of two replicas racing on one key only one stores it; the other reads
// the winner's claim. A claim whose job is gone (expired, or never stored
// because its submitter failed) is taken over with a compare-and-set on the
// claim's sequence once it is older than claimGrace.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// MaxIdempotencyKey is the longest idempotency key accepted, in bytes.
	MaxIdempotencyKey = 255
	idemPrefix        = jobsPrefix + "=idem." // + <ep>.<sha256 of the key>
	// claimGrace is how long a claim's job may be missing before the key is
	// taken over: its submitter stores the job right after the claim.
	claimGrace = 10 * time.Second
	claimPoll  = 50 * time.Millisecond
)

type idemClaim struct {
	ID   string    `json:"id"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

func idemSubject(ep, key string) string {
	sum := sha256.Sum256([]byte(key))
	return idemPrefix + ep + "." + hex.EncodeToString(sum[:])
}

// submitOnce is Submit with an idempotency key.
func (e *Engine) submitOnce(ctx context.Context, endpoint string, eps EndpointSettings, req SubmitRequest) (*Job, error) {
	subj := idemSubject(endpoint, req.IdempotencyKey)
	for attempt := 0; attempt < 1000; attempt++ {
		c, seq, err := e.loadClaim(ctx, subj)
		if err != nil {
			return nil, err
		}
		if c != nil {
			if c.Hash != req.IdempotencyHash {
				return nil, fmt.Errorf("submit: %w (job %s)", ErrIdempotencyMismatch, c.ID)
			}
			j, err := e.Get(ctx, endpoint, c.ID)
			if err == nil {
				return j, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("submit: job %s of idempotency key: %w", c.ID, err)
			}
			if time.Since(c.At) < claimGrace {
				// Its submitter is storing it (or failed and removes the claim).
				select {
				case <-ctx.Done():
					return nil, fmt.Errorf("submit: wait for job %s of idempotency key: %w", c.ID, ctx.Err())
				case <-time.After(claimPoll):
				}
				continue
			}
		}
		id := newID(req.Sync)
		ok, err := e.storeIdemClaim(ctx, subj, seq, idemClaim{ID: id, Hash: req.IdempotencyHash, At: time.Now().UTC()}, e.claimTTL(req))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // another submit stored a claim first: read it
		}
		j, err := e.submitNew(ctx, endpoint, eps, req, id)
		if err != nil {
			// The id was not returned: free the key so a retry submits again.
			if perr := e.jobs.Purge(context.WithoutCancel(ctx), jetstream.WithPurgeSubject(subj)); perr != nil {
				e.log.Warn("engine: remove idempotency claim", attrJob, id, attrErr, perr)
			}
			return nil, err
		}
		return j, nil
	}
	return nil, fmt.Errorf("submit: idempotency key on %s: too many conflicting writers", endpoint)
}

// claimTTL is how long a claim lives: the job's ttl plus its retention.
func (e *Engine) claimTTL(req SubmitRequest) time.Duration {
	ttl := req.Policy.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	return ttl + max(req.Retention, e.cfg.Retention, e.cfg.SyncRetention)
}

// loadClaim reads the claim at subj; nil and sequence 0 when there is none.
func (e *Engine) loadClaim(ctx context.Context, subj string) (*idemClaim, uint64, error) {
	m, err := e.jobs.GetLastMsgForSubject(ctx, subj)
	if isNotFound(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("submit: read idempotency key: %w", err)
	}
	c := new(idemClaim)
	if err := json.Unmarshal(m.Data, c); err != nil {
		return nil, 0, fmt.Errorf("submit: decode idempotency key: %w", err)
	}
	return c, m.Sequence, nil
}

// storeIdemClaim writes c if subj's last sequence is still seq; false when
// another writer was first.
func (e *Engine) storeIdemClaim(ctx context.Context, subj string, seq uint64, c idemClaim, ttl time.Duration) (bool, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("submit: encode idempotency key: %w", err)
	}
	_, err = e.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data},
		jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithMsgTTL(ttl.Round(time.Second)+time.Second))
	if isAPIErr(err, jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("submit: store idempotency key: %w", err)
	}
	return true, nil
}
