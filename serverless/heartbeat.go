package serverless

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pingRetries and pingBackoff bound the retries of one heartbeat (urllib3
// Retry(total=3, backoff_factor=1) in runpod-python). Variables so tests
// can shorten them.
var (
	pingRetries = 3
	pingBackoff = time.Second
)

// heartbeat pings the platform every env.pingInterval, first at once, with
// the in-progress job ids from ids, until ctx is done (spec 1.9).
func (p *platform) heartbeat(ctx context.Context, ids func() []string) {
	t := time.NewTicker(p.env.pingInterval)
	defer t.Stop()
	for {
		if err := p.ping(ctx, ids()); err != nil && ctx.Err() == nil {
			p.log.Error(fmt.Sprintf("Ping Request Error: %v, attempting to restart ping.", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pingURL is the heartbeat URL: job_id (comma-joined, omitted when idle)
// and runpod_version as query parameters.
func (p *platform) pingURL(ids []string) string {
	q := url.Values{"runpod_version": {Version}}
	if len(ids) > 0 {
		q.Set("job_id", strings.Join(ids, ","))
	}
	sep := "?"
	if strings.Contains(p.env.pingURL, "?") {
		sep = "&"
	}
	return p.env.pingURL + sep + q.Encode()
}

// ping sends one heartbeat, retrying 429, 5xx and connection errors.
func (p *platform) ping(ctx context.Context, ids []string) error {
	u := p.pingURL(ids)
	wait := pingBackoff
	var err error
	for attempt := 0; attempt <= pingRetries; attempt++ {
		if attempt > 0 {
			if serr := sleepCtx(ctx, wait); serr != nil {
				return fmt.Errorf("ping: %w", serr)
			}
			wait *= 2
		}
		var code int
		code, err = p.pingOnce(ctx, u)
		if err == nil && code < 500 && code != http.StatusTooManyRequests {
			return nil
		}
		if err == nil {
			err = &statusError{code: code}
		}
	}
	return fmt.Errorf("ping: %w", err)
}

func (p *platform) pingOnce(ctx context.Context, u string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, max(2*p.env.pingInterval, time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", p.env.apiKey)
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}
