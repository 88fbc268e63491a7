// Package webhook sends the webhooks of finished jobs: it pulls the
// deliveries the engine recorded as due (engine.Deliveries, a durable
// stream shared by every replica), POSTs each job's /status body to its
// URL and settles the delivery: at least once, up to Config.Retries more
// tries Config.RetryDelay apart, as Runpod does (docs/spec/runpod-api.md
// section 4).
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/logkey"
)

// Log attribute keys.
const (
	attrEndpoint = logkey.Endpoint
	attrJob      = logkey.JobID
	attrTry      = "try"
	attrErr      = logkey.Err
)

// concurrency bounds the webhooks one sender posts at once.
const concurrency = 64

// Config configures Start. The zero value works.
type Config struct {
	// Retries is how many times a failed webhook is tried again. Default 2
	// (3 tries, as on Runpod); negative: none.
	Retries int
	// RetryDelay is the wait between tries. Default 10 s.
	RetryDelay time.Duration
	// Timeout bounds one request. Default 10 s.
	Timeout time.Duration
	// Client sends the requests. Default: an http.Client with Timeout.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Observer, when set, hears the outcome of every delivery attempt
	// (metrics). Default: none.
	Observer Observer
}

// Observer hears about the deliveries a Sender tries. It is called
// synchronously, so it must be quick.
type Observer interface {
	WebhookDelivered(endpoint string, result Result)
}

// Result is the outcome of one delivery attempt.
type Result string

// Outcomes of a delivery attempt.
const (
	Delivered Result = "delivered" // a 2xx answer
	Retrying  Result = "retrying"  // failed; it is tried again later
	Failed    Result = "failed"    // failed on its last try: given up
	Dropped   Result = "dropped"   // could not be sent at all (its body could not be built)
)

// Sender posts due webhooks until Close.
type Sender struct {
	cfg    Config
	e      *engine.Engine
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	sem    chan struct{}
	stop   func()
}

// Start starts sending the webhooks e records as due.
func Start(ctx context.Context, e *engine.Engine, cfg Config) (*Sender, error) {
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 2
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sender{cfg: cfg, e: e, sem: make(chan struct{}, concurrency)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	stop, err := e.Deliveries(ctx, concurrency, s.receive)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("start webhooks: %w", err)
	}
	s.stop = stop
	return s, nil
}

// Close stops pulling, cuts off the requests under way and puts their
// deliveries back (another replica, or the next start after
// engine.DeliveryHold, sends them). Call it before closing the engine.
func (s *Sender) Close() {
	s.stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	// The put-backs must reach the store before the engine's connection
	// closes, or they wait out DeliveryHold.
	if err := s.e.FlushDeliveries(2 * time.Second); err != nil {
		s.cfg.Logger.Debug("webhook: flush put-backs", attrErr, err)
	}
}

// receive hands a delivery to a goroutine (at most concurrency at once).
func (s *Sender) receive(d *engine.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = d.Release()
		return
	}
	s.wg.Go(func() {
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			_ = d.Release()
			return
		}
		defer func() { <-s.sem }()
		s.deliver(d)
	})
}

// deliver posts one delivery and settles it.
func (s *Sender) deliver(d *engine.Delivery) {
	body, err := d.Body(s.ctx)
	if err != nil {
		s.cfg.Logger.Warn("webhook dropped", attrEndpoint, d.Endpoint, attrJob, d.JobID, attrErr, err)
		s.observe(d, Dropped)
		d.SetError(err)
		_ = d.Drop()
		return
	}
	err = s.postHolding(d, body)
	switch {
	case err == nil:
		s.observe(d, Delivered)
		_ = d.Done()
	case s.ctx.Err() != nil:
		_ = d.Release()
	default:
		s.cfg.Logger.Warn("webhook failed", attrEndpoint, d.Endpoint, attrJob, d.JobID, attrTry, d.Try, attrErr, err)
		d.SetError(err)
		if d.Try > s.cfg.Retries {
			s.observe(d, Failed)
			_ = d.Drop()
			return
		}
		s.observe(d, Retrying)
		_ = d.Retry(s.cfg.RetryDelay)
	}
}

// observe tells the Observer, if any, the outcome of an attempt.
func (s *Sender) observe(d *engine.Delivery, res Result) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.WebhookDelivered(d.Endpoint, res)
	}
}

// postHolding posts while telling the engine, every third of
// engine.DeliveryHold, that the delivery is still in progress.
func (s *Sender) postHolding(d *engine.Delivery, body []byte) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(engine.DeliveryHold / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = d.Hold()
			}
		}
	})
	err := s.post(d.URL, body)
	close(done)
	wg.Wait()
	return err
}

func (s *Sender) post(url string, body []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook post: status %d", resp.StatusCode)
	}
	return nil
}
