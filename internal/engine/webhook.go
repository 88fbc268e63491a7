package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/wire"
)

// WebhookPayload is the default body POSTed to a job's webhook: the job as
// /status shows it (wire.View, one renderer for both).
func WebhookPayload(j *Job) ([]byte, error) {
	b, err := wire.Encode(wire.View(j.Wire()))
	if err != nil {
		return nil, fmt.Errorf("webhook payload of %s: %w", j.ID, err)
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// Webhook deliveries are durable: a terminal transition stores a delivery
// entry in the work-queue stream sluice_hooks (subject
// sluice.hook.<endpoint>.<id>) before anything is sent, and every replica
// pulls entries from one shared consumer and POSTs them. An entry is acked
// after a 2xx, tried again WebhookRetryDelay later after a failure (up to
// WebhookRetries times), and put back when its engine closes mid-delivery;
// one nobody settles (a crash, or a put-back that reached a stopping server's
// pull) is sent again after hookAckWait: at least once.
// The body is stored in the entry up to 64 KiB; a larger one is rebuilt
// from the job's record when it is sent.

// hookEntry is a stored webhook delivery.
type hookEntry struct {
	ID       string          `json:"id"`
	Endpoint string          `json:"endpoint"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body,omitempty"` // absent: rebuild from the record
}

// webhooks stores and delivers webhooks (see above).
type webhooks struct {
	e    *Engine
	wg   sync.WaitGroup
	mu   sync.Mutex
	sem  chan struct{}
	cons jetstream.ConsumeContext
}

// hookDeliveries bounds the webhooks one engine sends at once.
const hookDeliveries = 64

// hookAckWait is how soon a delivery nobody settled (its engine crashed, or
// it reached an engine that was stopping) is sent again. A POST that runs
// longer keeps extending it.
const hookAckWait = 5 * time.Second

func newWebhooks(e *Engine) *webhooks {
	return &webhooks{e: e, sem: make(chan struct{}, hookDeliveries)}
}

// start creates (or joins) the shared delivery consumer and starts pulling.
func (h *webhooks) start(ctx context.Context) error {
	cons, err := h.e.hookStr.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "hooks",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       hookAckWait, // extended while a POST runs (deliver)
		MaxDeliver:    -1,          // tries are counted here (Term after the last)
		MaxAckPending: 4 * hookDeliveries,
	})
	if err != nil {
		return fmt.Errorf("webhook consumer: %w", err)
	}
	cc, err := cons.Consume(h.receive, jetstream.PullMaxMessages(hookDeliveries),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !h.e.closed() {
				h.e.log.Debug("engine: webhook consumer", "err", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("webhook consumer: %w", err)
	}
	h.cons = cc
	return nil
}

// send stores the webhook delivery of terminal job j (best effort: a failure
// is logged; the job's state is already stored).
func (h *webhooks) send(ctx context.Context, r *record) {
	j := &r.Job
	ent := hookEntry{ID: j.ID, Endpoint: j.Endpoint, URL: j.Webhook}
	// An output kept as a blob is not read here only to be left out of the
	// entry: such a body is rebuilt from the record when it is sent.
	if r.OutputRef == nil {
		body, err := h.e.cfg.WebhookBody(j)
		if err != nil {
			h.e.log.Warn("engine: webhook", "job", j.ID, "err", err)
			return
		}
		if len(body) <= inlineMax {
			ent.Body = body
		}
	}
	data, err := json.Marshal(ent)
	if err != nil {
		h.e.log.Warn("engine: webhook", "job", j.ID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// One delivery per terminal state: the same transition stored twice
	// (a retried write) is one entry.
	msgID := j.ID + "." + string(j.Status) + "." + strconv.FormatInt(j.FinishedAt.UnixNano(), 10)
	if _, err := h.e.js.Publish(ctx, hookPrefix+j.Endpoint+"."+j.ID, data, jetstream.WithMsgID(msgID)); err != nil {
		h.e.log.Warn("engine: store webhook", "job", j.ID, "err", err)
	}
}

// receive hands a stored delivery to a goroutine (at most hookDeliveries at once).
func (h *webhooks) receive(m jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.e.closed() {
		_ = m.Nak()
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case h.sem <- struct{}{}:
		case <-h.e.ctx.Done():
			_ = m.Nak()
			return
		}
		defer func() { <-h.sem }()
		h.deliver(m)
	}()
}

// deliver POSTs one stored delivery and settles it.
func (h *webhooks) deliver(m jetstream.Msg) {
	var ent hookEntry
	if err := json.Unmarshal(m.Data(), &ent); err != nil {
		h.e.log.Warn("engine: bad webhook entry dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	ctx := h.e.ctx
	body := []byte(ent.Body)
	if len(body) == 0 {
		var err error
		if body, err = h.rebuild(ctx, ent); err != nil {
			h.e.log.Warn("engine: webhook dropped", "job", ent.ID, "err", err)
			_ = m.Term()
			return
		}
	}
	err := h.postHolding(ctx, m, ent.URL, body)
	switch {
	case err == nil:
		_ = m.Ack()
	case h.e.closed():
		_ = m.Nak() // closing: another replica, or the next start after hookAckWait, sends it
	default:
		try := 1
		if meta, merr := m.Metadata(); merr == nil {
			try = int(meta.NumDelivered)
		}
		h.e.log.Warn("engine: webhook failed", "job", ent.ID, "try", try, "err", err)
		if try > h.e.cfg.WebhookRetries {
			_ = m.Term()
			return
		}
		_ = m.NakWithDelay(h.e.cfg.WebhookRetryDelay)
	}
}

// rebuild renders the body of a delivery stored without one (too large)
// from the job's record, which must still be in the terminal state.
func (h *webhooks) rebuild(ctx context.Context, ent hookEntry) ([]byte, error) {
	r, _, err := h.e.load(ctx, ent.Endpoint, ent.ID)
	if err != nil {
		return nil, err
	}
	if !r.Status.Terminal() {
		return nil, fmt.Errorf("job %s is %s again", ent.ID, r.Status)
	}
	j, err := h.e.toJob(ctx, r, false)
	if err != nil {
		return nil, err
	}
	return h.e.cfg.WebhookBody(j)
}

// postHolding posts while telling the server, every third of hookAckWait,
// that the delivery is still in progress.
func (h *webhooks) postHolding(ctx context.Context, m jetstream.Msg, url string, body []byte) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(hookAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	})
	err := h.post(ctx, url, body)
	close(done)
	wg.Wait()
	return err
}

func (h *webhooks) post(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.e.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.e.cfg.WebhookClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook post: status %d", resp.StatusCode)
	}
	return nil
}

// wait stops pulling and blocks until deliveries end (Close cancels them;
// unfinished ones are put back).
func (h *webhooks) wait() {
	if h.cons != nil {
		h.cons.Stop()
	}
	h.mu.Lock()
	h.mu.Unlock() //nolint:staticcheck // barrier: no delivery starts after this
	h.wg.Wait()
	// The put-backs of cut-off deliveries must reach the server before the
	// connection closes, or they wait out AckWait.
	_ = h.e.nc.FlushTimeout(2 * time.Second)
}
