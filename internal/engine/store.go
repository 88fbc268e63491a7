package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// record is a job as stored: the public Job plus bookkeeping. Large input and
// output values live in the blob stream and are referenced from here, so a
// record stays small and every compare-and-set rewrites only a few hundred bytes.
type record struct {
	Job
	InputRef  *blobRef `json:"inputRef,omitempty"`
	OutputRef *blobRef `json:"outputRef,omitempty"`
	// Owner is the worker holding the job; set only while IN_PROGRESS.
	Owner string `json:"owner,omitempty"`
	// Epoch counts queue entries; a queue message is valid only for its epoch.
	Epoch int `json:"epoch"`
	// Cursor is the chunk-stream sequence of the last chunk returned by ReadStream.
	Cursor uint64 `json:"cursor,omitempty"`
	// Deadline is when an IN_PROGRESS job times out.
	Deadline time.Time `json:"deadline,omitzero"`
	// ExpireAt is when the record disappears (ttl, or retention once terminal).
	ExpireAt time.Time `json:"expireAt"`
	// Retention, when set, overrides the configured retention for this job.
	Retention time.Duration `json:"retention,omitempty"`
	// Attempts are the job's past tries (attempts.go).
	Attempts []Attempt `json:"attempts,omitempty"`
}

// blobRef points to a value stored in parts in the blob stream.
type blobRef struct {
	Subject string `json:"subject"`
	First   uint64 `json:"first"`
	Parts   int    `json:"parts"`
	Size    int    `json:"size"`
}

var (
	errCAS   = errors.New("revision changed")
	errNoop  = errors.New("no change")
	errStale = errors.New("stale queue entry")
)

func jobSubject(ep, id string) string { return jobsPrefix + ep + "." + id }

func jobKey(ep, id string) string { return ep + "." + id }

// token makes an outside identifier (a worker id) safe as one subject token
// and KV key part. Ids made of letters, digits, '-' and '_' stay as they are;
// others are hex-encoded behind a '=', which plain ids never contain, so
// different ids never share a token.
func token(s string) string {
	if tokenRE.MatchString(s) {
		return s
	}
	return "=" + hex.EncodeToString([]byte(s))
}

// newID returns a random UUID (v4), with a "sync-" prefix for /runsync jobs.
func newID(sync bool) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if sync {
		return "sync-" + id
	}
	return id
}

func isAPIErr(err error, codes ...jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode == c {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrKeyNotFound) ||
		isAPIErr(err, jetstream.JSErrCodeMessageNotFound)
}

// load reads a job record and its revision. Unknown, expired or malformed ids
// are ErrNotFound.
func (e *Engine) load(ctx context.Context, ep, id string) (*record, uint64, error) {
	if !tokenRE.MatchString(id) {
		return nil, 0, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	m, err := e.jobs.GetLastMsgForSubject(ctx, jobSubject(ep, id))
	if err != nil {
		if isNotFound(err) {
			return nil, 0, fmt.Errorf("job %s: %w", id, ErrNotFound)
		}
		return nil, 0, fmt.Errorf("load job %s: %w", id, err)
	}
	r := new(record)
	if err := json.Unmarshal(m.Data, r); err != nil {
		return nil, 0, fmt.Errorf("decode job %s: %w", id, err)
	}
	e.purgedView(r, m.Sequence)
	if !r.ExpireAt.IsZero() && time.Now().After(r.ExpireAt) {
		return nil, 0, fmt.Errorf("job %s expired: %w", id, ErrNotFound)
	}
	return r, m.Sequence, nil
}

// write stores r if the job's revision is still rev (0: the job must not exist).
// The record carries a per-message TTL so the server deletes it at ExpireAt.
func (e *Engine) write(ctx context.Context, r *record, rev uint64) (uint64, error) {
	m, opts, err := recordMsg(r, rev)
	if err != nil {
		return 0, err
	}
	ack, err := e.js.PublishMsg(ctx, m, opts...)
	return writeResult(r, ack, err)
}

// recordMsg is the message that stores r if the job's revision is still rev.
func recordMsg(r *record, rev uint64) (*nats.Msg, []jetstream.PublishOpt, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("encode job %s: %w", r.ID, err)
	}
	ttl := time.Until(r.ExpireAt).Round(time.Second) + time.Second
	return &nats.Msg{Subject: jobSubject(r.Endpoint, r.ID), Data: data},
		[]jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl)}, nil
}

// writeResult turns the answer to a record write into its revision, errCAS
// or an error.
func writeResult(r *record, ack *jetstream.PubAck, err error) (uint64, error) {
	if err != nil {
		if isAPIErr(err, jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, errCAS
		}
		return 0, fmt.Errorf("store job %s: %w", r.ID, err)
	}
	return ack.Sequence, nil
}

// awaitAck waits for the answer to an asynchronous publish.
func awaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mutate applies fn to the current record and stores the result with a
// compare-and-set on its revision, retrying on conflicts. fn returning errNoop
// keeps the record unchanged and mutate returns it with a nil error; any other
// error from fn is returned as is, with the record fn saw.
func (e *Engine) mutate(ctx context.Context, ep, id string, fn func(r *record) error) (*record, error) {
	return e.mutateFrom(ctx, ep, id, nil, 0, fn)
}

// mutateFrom is mutate starting from a record the caller just loaded (r at
// revision rev; nil loads it), saving a read. fn may change r.
func (e *Engine) mutateFrom(ctx context.Context, ep, id string, r *record, rev uint64, fn func(r *record) error) (*record, error) {
	for attempt := 0; ; attempt++ {
		if r == nil {
			var err error
			if r, rev, err = e.load(ctx, ep, id); err != nil {
				return nil, err
			}
		}
		if err := fn(r); err != nil {
			if errors.Is(err, errNoop) {
				return r, nil
			}
			return r, err
		}
		nrev, err := e.write(ctx, r, rev)
		if errors.Is(err, errCAS) && attempt < 1000 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("update job %s: %w", id, err)
			}
			r = nil
			continue
		}
		if err != nil {
			e.mem.forget(ep, id)
			return nil, err
		}
		e.mem.stored(r, nrev)
		e.nudge(jobNudgeKey(ep, id))
		return r, nil
	}
}

// putBlob stores data in parts under subject, each part with the given TTL.
func (e *Engine) putBlob(ctx context.Context, subject string, data []byte, ttl time.Duration) (*blobRef, error) {
	ref := &blobRef{Subject: subject, Size: len(data)}
	ttl = ttl.Round(time.Second) + time.Second
	for off := 0; off < len(data) || ref.Parts == 0; off += blobPart {
		end := min(off+blobPart, len(data))
		ack, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data[off:end]}, jetstream.WithMsgTTL(ttl))
		if err != nil {
			return nil, fmt.Errorf("store blob %s part %d: %w", subject, ref.Parts, err)
		}
		if ref.Parts == 0 {
			ref.First = ack.Sequence
		}
		ref.Parts++
	}
	return ref, nil
}

// getBlob reassembles a value written by putBlob.
func (e *Engine) getBlob(ctx context.Context, ref *blobRef) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, ref.Size))
	seq := ref.First
	for i := 0; i < ref.Parts; i++ {
		m, err := e.blobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(ref.Subject))
		if err != nil {
			return nil, fmt.Errorf("read blob %s part %d: %w", ref.Subject, i, err)
		}
		buf.Write(m.Data)
		seq = m.Sequence + 1
	}
	if buf.Len() != ref.Size {
		return nil, fmt.Errorf("read blob %s: %d bytes, want %d", ref.Subject, buf.Len(), ref.Size)
	}
	return buf.Bytes(), nil
}

// outSubject is a fresh blob subject for an output or progress value of a
// job: every write gets its own, so removing a value that lost a race never
// touches the one that won.
func outSubject(ep, id string) string { return blobPrefix + ep + "." + id + ".out." + newID(false) }

// purgeBlobs removes stored values of a job below subject (best effort).
func (e *Engine) purgeBlobs(ctx context.Context, subject string) {
	if err := e.blobs.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		e.log.Warn("engine: purge blobs", attrSubject, subject, attrErr, err)
	}
}

// putValue stores v inline in the record (small) or as a blob (large).
// It returns the inline value or the reference.
func (e *Engine) putValue(ctx context.Context, subject string, v json.RawMessage, ttl time.Duration) (json.RawMessage, *blobRef, error) {
	if len(v) <= inlineMax {
		return v, nil, nil
	}
	ref, err := e.putBlob(ctx, subject, v, ttl)
	return nil, ref, err
}

// toJob returns the public view of r, loading a large output (and, when
// withInput is set, a large input) from the blob stream.
func (e *Engine) toJob(ctx context.Context, r *record, withInput bool) (*Job, error) {
	j := r.Job
	if r.OutputRef != nil {
		b, err := e.getBlob(ctx, r.OutputRef)
		if err != nil {
			return nil, fmt.Errorf("job %s output: %w", r.ID, err)
		}
		j.Output = b
	}
	if withInput && r.InputRef != nil {
		b, err := e.getBlob(ctx, r.InputRef)
		if err != nil {
			return nil, fmt.Errorf("job %s input: %w", r.ID, err)
		}
		j.Input = b
	}
	return &j, nil
}

// retention is how long r stays readable once terminal.
func (e *Engine) retention(r *record) time.Duration {
	if r.Retention > 0 {
		return r.Retention
	}
	if r.Sync {
		return e.cfg.SyncRetention
	}
	return e.cfg.Retention
}

// terminate moves r to a terminal state (fields only; the caller stores it).
func (e *Engine) terminate(r *record, s Status, now time.Time) {
	r.Status = s
	r.FinishedAt = now
	r.Owner = ""
	r.Deadline = time.Time{}
	exp := now.Add(e.retention(r))
	if lim := r.CreatedAt.Add(r.Policy.TTL); lim.Before(exp) {
		exp = lim
	}
	r.ExpireAt = exp
}

// errorValue encodes msg as a JSON string error value.
func errorValue(msg string) json.RawMessage {
	b, _ := json.Marshal(msg)
	return b
}

// event records a transition for the /health counters.
func (e *Engine) event(ctx context.Context, ep, kind string) { e.eventAsync(ep, kind)(ctx) }

// eventAsync sends the counter event of a transition and returns a func that
// waits for it to be stored (errors are logged: a counter is not worth
// failing the transition that is already stored).
func (e *Engine) eventAsync(ep, kind string) func(ctx context.Context) {
	if kind == "" {
		return func(context.Context) {}
	}
	f, err := e.js.PublishAsync(eventPrefix+ep+"."+kind, nil)
	return func(ctx context.Context) {
		if err == nil {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err = awaitAck(ctx, f)
		}
		if err != nil {
			e.log.Warn("engine: record event", attrEndpoint, ep, attrKind, kind, attrErr, err)
		}
	}
}

// eventKind is the counter event of a terminal status ("" for none).
func eventKind(s Status) string {
	switch s {
	case StatusCompleted:
		return "completed"
	case StatusFailed:
		return "failed"
	case StatusCancelled:
		return "cancelled"
	case StatusTimedOut:
		return "timedout"
	}
	return ""
}
