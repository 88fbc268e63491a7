package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/wire"
)

// Webhook deliveries are durable: a terminal transition of a job with a
// webhook stores a delivery entry in the work-queue stream sluice_hooks
// (subject sluice.hook.<endpoint>.<id>) before anything is sent. The engine
// only records that a delivery is due; internal/webhook pulls due
// deliveries through Deliveries (every replica from one shared consumer),
// POSTs them and settles each: Done after a 2xx, Retry after a failure,
// Drop after the last try, Release when it stops mid-delivery. One nobody
// settles (a crash) is handed out again after DeliveryHold: at least once.
// The body (wire.View, the /status body) is stored in the entry up to 64
// KiB; a larger one is rebuilt from the job's record (Delivery.Body).

// hookEntry is a stored webhook delivery.
type hookEntry struct {
	ID       string          `json:"id"`
	Endpoint string          `json:"endpoint"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body,omitempty"` // absent: rebuild from the record
}

// DeliveryHold is how soon a delivery nobody settled (its sender crashed)
// is handed out again. A sender holding one longer calls Hold about every
// third of it.
const DeliveryHold = 5 * time.Second

// WebhookPayload is the body POSTed to a job's webhook: the job as /status
// shows it (wire.View: one renderer for both).
func WebhookPayload(j *Job) ([]byte, error) {
	b, err := wire.Encode(wire.View(j.Wire()))
	if err != nil {
		return nil, fmt.Errorf("webhook payload of %s: %w", j.ID, err)
	}
	return b[:len(b)-1], nil // without Encode's newline
}

// recordDelivery stores the webhook delivery of terminal job r (best
// effort: a failure is logged; the job's state is already stored).
func (e *Engine) recordDelivery(ctx context.Context, r *record) {
	j := &r.Job
	ent := hookEntry{ID: j.ID, Endpoint: j.Endpoint, URL: j.Webhook}
	// An output kept as a blob is not read here only to be left out of the
	// entry: such a body is rebuilt from the record when it is sent.
	if r.OutputRef == nil {
		body, err := WebhookPayload(j)
		if err != nil {
			e.log.Warn("engine: webhook", attrJob, j.ID, attrErr, err)
			return
		}
		if len(body) <= inlineMax {
			ent.Body = body
		}
	}
	data, err := json.Marshal(ent)
	if err != nil {
		e.log.Warn("engine: webhook", attrJob, j.ID, attrErr, err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// One delivery per terminal state: the same transition stored twice
	// (a retried write) is one entry.
	msgID := j.ID + "." + string(j.Status) + "." + strconv.FormatInt(j.FinishedAt.UnixNano(), 10)
	if _, err := e.js.Publish(ctx, hookPrefix+j.Endpoint+"."+j.ID, data, jetstream.WithMsgID(msgID)); err != nil {
		e.log.Warn("engine: store webhook", attrJob, j.ID, attrErr, err)
	}
}

// Delivery is one due webhook delivery handed out by Deliveries. Settle it
// exactly once: Done, Retry, Drop or Release.
type Delivery struct {
	JobID    string
	Endpoint string
	URL      string
	// Try is 1 the first time the delivery is handed out.
	Try int

	body    json.RawMessage
	msg     jetstream.Msg
	e       *Engine
	lastErr string // SetError (deliverystate.go)
}

// Body is the JSON body to POST: the stored one, or one rebuilt from the
// job's record (which must still be in its terminal state).
func (d *Delivery) Body(ctx context.Context) ([]byte, error) {
	if len(d.body) > 0 {
		return d.body, nil
	}
	r, _, err := d.e.load(ctx, d.Endpoint, d.JobID)
	if err != nil {
		return nil, fmt.Errorf("webhook body of %s: %w", d.JobID, err)
	}
	if !r.Status.Terminal() {
		return nil, fmt.Errorf("webhook body of %s: job is %s again", d.JobID, r.Status)
	}
	j, err := d.e.toJob(ctx, r, false)
	if err != nil {
		return nil, fmt.Errorf("webhook body of %s: %w", d.JobID, err)
	}
	return WebhookPayload(j)
}

// Done settles a delivered webhook.
func (d *Delivery) Done() error { d.note(WebhookDelivered); return d.msg.Ack() }

// Retry hands the delivery out again after delay.
func (d *Delivery) Retry(delay time.Duration) error {
	d.note(WebhookPending)
	return d.msg.NakWithDelay(delay)
}

// Drop gives the delivery up for good.
func (d *Delivery) Drop() error { d.note(WebhookFailed); return d.msg.Term() }

// Release puts the delivery back at once (its sender is stopping).
func (d *Delivery) Release() error { return d.msg.Nak() }

// Hold tells the store the delivery is still being worked on, so that it is
// not handed out again for another DeliveryHold.
func (d *Delivery) Hold() error { return d.msg.InProgress() }

// Deliveries creates (or joins) the consumer shared by every replica and
// calls fn, on the consumer's goroutine, with each due delivery; at most
// unsettled deliveries are out at once. An entry that cannot be read is
// dropped and logged. stop ends pulling; deliveries already handed out must still be
// settled.
func (e *Engine) Deliveries(ctx context.Context, unsettled int, fn func(*Delivery)) (stop func(), err error) {
	cons, err := e.hookStr.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "hooks",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       DeliveryHold, // extended by Hold while a POST runs
		MaxDeliver:    -1,           // tries are counted by the sender (Drop after the last)
		MaxAckPending: 4 * unsettled,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ent hookEntry
		if err := json.Unmarshal(m.Data(), &ent); err != nil {
			e.log.Warn("engine: bad webhook entry dropped", attrSubject, m.Subject(), attrErr, err)
			_ = m.Term()
			return
		}
		d := &Delivery{JobID: ent.ID, Endpoint: ent.Endpoint, URL: ent.URL, Try: 1, body: ent.Body, msg: m, e: e}
		if meta, merr := m.Metadata(); merr == nil {
			d.Try = int(meta.NumDelivered)
		}
		fn(d)
	}, jetstream.PullMaxMessages(unsettled),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !e.closed() {
				e.log.Debug("engine: webhook consumer", attrErr, err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("webhook consumer: %w", err)
	}
	return cc.Stop, nil
}

// FlushDeliveries waits (up to timeout) until settlements made so far have
// reached the store: a sender calls it after releasing what it cut off.
func (e *Engine) FlushDeliveries(timeout time.Duration) error {
	return e.nc.FlushTimeout(timeout)
}

// PendingDeliveries is the number of stored deliveries not yet settled for
// good (Done or Drop).
func (e *Engine) PendingDeliveries(ctx context.Context) (int, error) {
	info, err := e.hookStr.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhook deliveries: %w", err)
	}
	return int(info.State.Msgs), nil
}
