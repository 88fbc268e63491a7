package engine

// Webhook delivery state, for the job detail view: each settlement of a
// delivery (Done, Retry, Drop) stores the state at
// $KV.sluice_jobs.=hook.<ep>.<id> (three tokens: the listing index does not
// read it), with a TTL that outlives the job's retention.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Webhook delivery states.
const (
	WebhookPending   = "pending"   // not sent yet, or failed and to be tried again
	WebhookDelivered = "delivered" // answered 2xx
	WebhookFailed    = "failed"    // given up
)

const (
	hookStatePrefix = jobsPrefix + "=hook." // + <ep>.<id>
	// hookStateMin is the least a delivery state is kept (the longest
	// per-job retention, a /runsync?wait=, is 5 min).
	hookStateMin = 5 * time.Minute
)

// WebhookState is where a job's webhook delivery stands.
type WebhookState struct {
	URL         string    `json:"url"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"lastError,omitempty"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// SetError tells the delivery why its last try failed (shown as lastError);
// call it before Retry or Drop.
func (d *Delivery) SetError(err error) {
	if err != nil {
		d.lastErr = err.Error()
	}
}

// note stores the delivery's state (best effort: a failure is logged).
func (d *Delivery) note(state string) {
	e := d.e
	st := WebhookState{URL: d.URL, State: state, Attempts: d.Try, LastError: d.lastErr}
	if state == WebhookDelivered {
		st.DeliveredAt = time.Now().UTC()
	}
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	ttl := max(e.cfg.Retention, e.cfg.SyncRetention, hookStateMin) + time.Minute
	m := &nats.Msg{Subject: hookStatePrefix + d.Endpoint + "." + d.JobID, Data: b}
	if _, err := e.js.PublishMsg(ctx, m, jetstream.WithMsgTTL(ttl)); err != nil {
		e.log.Warn("engine: store webhook state", attrJob, d.JobID, attrErr, err)
	}
}

// webhookState reads the delivery state of r, a job with a webhook.
func (e *Engine) webhookState(ctx context.Context, r *record) (*WebhookState, error) {
	m, err := e.jobs.GetLastMsgForSubject(ctx, hookStatePrefix+r.Endpoint+"."+r.ID)
	if isNotFound(err) {
		return &WebhookState{URL: r.Webhook, State: WebhookPending}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("job %s webhook state: %w", r.ID, err)
	}
	st := new(WebhookState)
	if err := json.Unmarshal(m.Data, st); err != nil {
		return nil, fmt.Errorf("job %s webhook state: %w", r.ID, err)
	}
	// A job retried since keeps the state of its previous delivery until
	// the new one settles; a delivery state older than its finish is that.
	if r.Status.Terminal() && m.Time.Before(r.FinishedAt) || !r.Status.Terminal() {
		st.State, st.DeliveredAt = WebhookPending, time.Time{}
	}
	st.URL = r.Webhook
	return st, nil
}
