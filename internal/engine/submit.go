package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Submit stores a new job and queues it. It returns only once the job is
// durably stored and queued, so a returned id is never lost.
func (e *Engine) Submit(ctx context.Context, endpoint string, req SubmitRequest) (*Job, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	eps, err := e.endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if len(req.Input) == 0 {
		return nil, fmt.Errorf("submit: input is required: %w", ErrInvalid)
	}
	if len(req.Input) > maxInputBytes {
		return nil, fmt.Errorf("submit: input of %d bytes exceeds %d: %w", len(req.Input), maxInputBytes, ErrTooLarge)
	}
	extra := 0
	for k, v := range req.Extra {
		extra += len(k) + len(v)
	}
	if extra > inlineMax {
		return nil, fmt.Errorf("submit: request fields besides input take %d bytes, over %d: %w", extra, inlineMax, ErrTooLarge)
	}
	if len(req.Webhook) > 8<<10 {
		return nil, fmt.Errorf("submit: webhook URL of %d bytes: %w", len(req.Webhook), ErrInvalid)
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKey {
		return nil, fmt.Errorf("submit: idempotency key of %d bytes, over %d: %w", len(req.IdempotencyKey), MaxIdempotencyKey, ErrInvalid)
	}
	if req.IdempotencyKey != "" {
		return e.submitOnce(ctx, endpoint, eps, req)
	}
	return e.submitNew(ctx, endpoint, eps, req, newID(req.Sync))
}

// submitNew stores and queues a new job with the given id.
func (e *Engine) submitNew(ctx context.Context, endpoint string, eps EndpointSettings, req SubmitRequest, id string) (*Job, error) {
	if err := e.checkQueue(ctx, endpoint, eps.MaxQueue); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	pol := req.Policy
	if pol.TTL <= 0 {
		pol.TTL = defaultTTL
	}
	if pol.ExecutionTimeout <= 0 {
		pol.ExecutionTimeout = eps.ExecutionTimeout
	}
	r := &record{
		Job: Job{
			ID: id, Endpoint: endpoint, Status: StatusInQueue,
			Webhook: req.Webhook, Policy: pol, Sync: req.Sync, Extra: req.Extra, CreatedAt: now,
		},
		Epoch:     1,
		ExpireAt:  now.Add(pol.TTL),
		Retention: max(req.Retention, 0),
	}
	var err error
	r.Input, r.InputRef, err = e.putValue(ctx, blobPrefix+endpoint+"."+r.ID+".in", req.Input, pol.TTL)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	if p := e.claimParked(endpoint); p != nil {
		return e.submitTo(ctx, r, req.Input, p)
	}
	// The record is stored before the queue entry is sent: a purge that
	// removes the entry then always finds the record below its mark (purge.go).
	rm, ropts, err := recordMsg(r, 0)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	ack, err := e.js.PublishMsg(ctx, rm, ropts...)
	rev, err := writeResult(r, ack, err)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	qm, qopts := queueMsg(r, false)
	qack, err := e.js.PublishMsg(ctx, qm, qopts...)
	if err != nil {
		// The id was not returned; remove what was stored so nothing half-made stays.
		if perr := e.jobs.Purge(context.WithoutCancel(ctx), jetstream.WithPurgeSubject(jobSubject(endpoint, r.ID))); perr != nil {
			e.log.Warn("engine: remove unqueued job", attrJob, r.ID, attrErr, perr)
		}
		return nil, fmt.Errorf("submit: enqueue job %s: %w", r.ID, err)
	}
	e.mem.queued(endpoint, r.ID, qack.Sequence)
	e.queuedOne(endpoint)
	e.mem.stored(r, rev)
	e.nudge(nudgeQueue + endpoint)
	j := r.Job
	j.Input = req.Input
	return &j, nil
}
