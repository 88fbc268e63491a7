package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// WebhookPayload is the default body POSTed to a job's webhook: the job as
// /status shows it (Runpod's field names, times in milliseconds). The HTTP
// layer can supply its own view through Config.WebhookBody.
func WebhookPayload(j *Job) ([]byte, error) {
	m := map[string]any{"id": j.ID, "status": j.Status}
	if j.Retries > 0 {
		m["retries"] = j.Retries
	}
	if !j.StartedAt.IsZero() {
		m["delayTime"] = j.DelayTime().Milliseconds()
		m["executionTime"] = j.ExecutionTime().Milliseconds()
	}
	if len(j.Output) > 0 && string(j.Output) != "null" {
		m["output"] = j.Output
	}
	if len(j.Error) > 0 && string(j.Error) != "null" {
		m["error"] = j.Error
	}
	if j.WorkerID != "" {
		m["workerId"] = j.WorkerID
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("webhook payload of %s: %w", j.ID, err)
	}
	return b, nil
}

// webhooks delivers the webhooks of the terminal transitions this engine made:
// POST, retried WebhookRetries times WebhookRetryDelay apart until a 2xx.
type webhooks struct {
	e   *Engine
	wg  sync.WaitGroup
	mu  sync.Mutex
	sem chan struct{}
}

func newWebhooks(e *Engine) *webhooks {
	return &webhooks{e: e, sem: make(chan struct{}, 64)}
}

func (h *webhooks) send(j *Job) {
	body, err := h.e.cfg.WebhookBody(j)
	if err != nil {
		h.e.log.Warn("engine: webhook", "job", j.ID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.e.closed() {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case h.sem <- struct{}{}:
		case <-h.e.ctx.Done():
			return
		}
		defer func() { <-h.sem }()
		h.deliver(j.ID, j.Webhook, body)
	}()
}

func (h *webhooks) deliver(id, url string, body []byte) {
	ctx := h.e.ctx
	cfg := h.e.cfg
	for try := 0; try <= cfg.WebhookRetries; try++ {
		if try > 0 {
			t := time.NewTimer(cfg.WebhookRetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		err := h.post(ctx, url, body)
		if err == nil {
			return
		}
		h.e.log.Warn("engine: webhook failed", "job", id, "try", try+1, "err", err)
	}
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

// wait blocks until deliveries end (Close cancels them).
func (h *webhooks) wait() {
	h.mu.Lock()
	h.mu.Unlock() //nolint:staticcheck // barrier: no send starts after this
	h.wg.Wait()
}
