package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AppendStream adds one stream chunk to a job held by workerID. Chunks over
// 64 KiB are stored in the blob stream, so a 1 MB chunk works on a cluster with
// NATS's default max_payload; a chunk over MaxOutputBytes is ErrTooLarge.
func (e *Engine) AppendStream(ctx context.Context, endpoint, workerID, jobID string, output json.RawMessage) error {
	if _, err := e.endpoint(endpoint); err != nil {
		return err
	}
	if len(output) > e.cfg.MaxOutputBytes {
		return fmt.Errorf("stream chunk of job %s: %d bytes over %d: %w", jobID, len(output), e.cfg.MaxOutputBytes, ErrTooLarge)
	}
	r, _, err := e.load(ctx, endpoint, jobID)
	if err != nil {
		return err
	}
	if r.Status != StatusInProgress || r.Owner != workerID {
		return fmt.Errorf("stream of job %s (%s) by %s: %w", jobID, r.Status, workerID, ErrNotOwner)
	}
	ttl := min(time.Until(r.CreatedAt.Add(r.Policy.TTL)), r.Policy.ExecutionTimeout+e.retention(r))
	msg := &nats.Msg{Subject: chunkPrefix + endpoint + "." + jobID, Data: output}
	if len(output) > inlineMax {
		ref, err := e.putBlob(ctx, blobPrefix+endpoint+"."+jobID+".chunk."+newID(false), output, ttl)
		if err != nil {
			return fmt.Errorf("stream of job %s: %w", jobID, err)
		}
		msg.Data, _ = json.Marshal(ref)
		msg.Header = nats.Header{blobHeader: []string{"1"}}
	}
	if _, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl.Round(time.Second)+time.Second)); err != nil {
		return fmt.Errorf("stream of job %s: %w", jobID, err)
	}
	e.nudge(nudgeJob + endpoint + "." + jobID)
	return nil
}

// blobHeader marks a chunk message whose data is a blobRef.
const blobHeader = "Sluice-Blob"

// ReadStream returns the stream chunks produced since the previous read of
// this job (by any replica), in order, each once. With none available it waits
// until ctx ends or the job is terminal, and then returns an empty list.
func (e *Engine) ReadStream(ctx context.Context, endpoint, id string) (*Job, []json.RawMessage, error) {
	if _, err := e.endpoint(endpoint); err != nil {
		return nil, nil, err
	}
	if !tokenRE.MatchString(id) {
		return nil, nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	for {
		wake, done := e.nudges.wait(jobNudgeKey(endpoint, id)) // before the read
		j, chunks, again, err := e.readStreamOnce(ctx, endpoint, id, wake)
		done()
		if !again {
			return j, chunks, err
		}
	}
}

// readStreamOnce is one pass of ReadStream; again reports that the caller
// should look once more (woken, or a concurrent read raced this one).
func (e *Engine) readStreamOnce(ctx context.Context, endpoint, id string, wake <-chan struct{}) (_ *Job, _ []json.RawMessage, again bool, _ error) {
	{
		r, rev, err := e.load(ctx, endpoint, id)
		if err != nil {
			if ctx.Err() != nil {
				j, err := e.current(ctx, endpoint, id)
				return j, nil, false, err
			}
			return nil, nil, false, err
		}
		chunks, last, err := e.readChunks(ctx, endpoint, id, r.Cursor)
		if err != nil && ctx.Err() == nil {
			return nil, nil, false, err
		}
		if len(chunks) > 0 {
			r.Cursor = last
			nrev, err := e.write(ctx, r, rev)
			if err != nil {
				if errors.Is(err, errCAS) {
					return nil, nil, true, nil // another read or a state change raced us; read again
				}
				return nil, nil, false, err
			}
			e.mem.stored(r, nrev)
			j, err := e.toJob(ctx, r, false)
			return j, chunks, false, err
		}
		if r.Status.Terminal() {
			j, err := e.toJob(ctx, r, false)
			return j, nil, false, err
		}
		if err := e.sleep(ctx, wake); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, nil, false, err
			}
			j, err := e.current(ctx, endpoint, id)
			return j, nil, false, err
		}
		return nil, nil, true, nil
	}
}

const maxReadChunks = 1000

// readChunks reads the chunks of a job stored after sequence cursor, up to a
// bound, and returns them with the sequence of the last one.
func (e *Engine) readChunks(ctx context.Context, ep, id string, cursor uint64) ([]json.RawMessage, uint64, error) {
	var out []json.RawMessage
	size := 0
	seq := cursor + 1
	last := cursor
	for len(out) < maxReadChunks && size < 16<<20 {
		m, err := e.chunks.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(chunkPrefix+ep+"."+id))
		if err != nil {
			if isNotFound(err) {
				break
			}
			return out, last, fmt.Errorf("read stream of %s: %w", id, err)
		}
		data := m.Data
		if m.Header.Get(blobHeader) != "" {
			var ref blobRef
			if err := json.Unmarshal(m.Data, &ref); err != nil {
				return out, last, fmt.Errorf("read stream of %s: chunk reference: %w", id, err)
			}
			if data, err = e.getBlob(ctx, &ref); err != nil {
				return out, last, fmt.Errorf("read stream of %s: %w", id, err)
			}
		}
		out = append(out, json.RawMessage(data))
		size += len(data)
		last = m.Sequence
		seq = m.Sequence + 1
	}
	return out, last, nil
}
