package serverless

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
// the in-progress job ids from ids, until ctx is done (docs/spec/runpod-worker-protocol.md 1.9).
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

// maxPingRetryAfter caps the pause a ping's Retry-After asks for.
var maxPingRetryAfter = time.Minute

// ping sends one heartbeat, retrying 429, 5xx and connection errors. A 429
// or 503 with Retry-After waits as asked (up to maxPingRetryAfter) instead
// of the backoff, as urllib3 does for runpod-python.
func (p *platform) ping(ctx context.Context, ids []string) error {
	u := p.pingURL(ids)
	wait := pingBackoff
	var err error
	var asked time.Duration // Retry-After of the previous answer, if any
	for attempt := 0; attempt <= pingRetries; attempt++ {
		if attempt > 0 {
			d := wait
			if asked > 0 {
				d = asked
			}
			if serr := sleepCtx(ctx, d); serr != nil {
				return fmt.Errorf("ping: %w", serr)
			}
			wait *= 2
		}
		var code int
		var ra string
		code, ra, err = p.pingOnce(ctx, u)
		if err == nil && code < 500 && code != http.StatusTooManyRequests {
			return nil
		}
		asked = 0
		if err == nil {
			err = &statusError{code: code}
			if d, ok := parseRetryAfter(ra, time.Now()); ok && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
				asked = min(max(d, time.Millisecond), maxPingRetryAfter)
			}
		}
	}
	return fmt.Errorf("ping: %w", err)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func (p *platform) pingOnce(ctx context.Context, u string) (code int, retryAfter string, err error) {
	ctx, cancel := context.WithTimeout(ctx, max(2*p.env.pingInterval, time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", p.env.apiKey)
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}
