package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is Runpod's hosted API, used when New gets an empty base URL.
const DefaultBaseURL = "https://api.runpod.ai"

// maxResponseBody bounds what is read from one response. Runpod outputs are
// at most about 20 MB; stream reads may carry many chunks.
const maxResponseBody = 256 << 20

// Client talks to one server. It is safe for concurrent use. Create it with
// [New].
type Client struct {
	base       string
	key        string
	hc         *http.Client
	userAgent  string
	maxRetries int
	backoffMin time.Duration
	backoffMax time.Duration
	pollMin    time.Duration
	pollMax    time.Duration
	longPoll   time.Duration
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient sets the HTTP client. Defaults to a client without a
// timeout: calls are bounded by their context.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how many times a call that is safe to repeat is retried
// after a 429, a 5xx or a connection error. Defaults to 4; 0 disables
// retries.
func WithRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// WithBackoff sets the first and the longest pause between retries; each
// retry doubles the pause. Defaults to 200ms and 5s. A Retry-After header
// from the server takes precedence, up to one minute.
func WithBackoff(first, longest time.Duration) Option {
	return func(c *Client) { c.backoffMin, c.backoffMax = first, max(first, longest) }
}

// WithPollInterval sets the first and the longest pause between two polls
// of /status or /stream that returned nothing new; the pause doubles while
// nothing changes. Defaults to 100ms and 1s.
func WithPollInterval(first, longest time.Duration) Option {
	return func(c *Client) { c.pollMin, c.pollMax = first, max(first, longest) }
}

// WithLongPoll sets the wait asked of the server in each /status-sync and
// /stream request (the "wait" query parameter). Defaults to 10s. Values are
// clamped to 1s..90s, Runpod's range.
func WithLongPoll(d time.Duration) Option {
	return func(c *Client) { c.longPoll = min(max(d, time.Second), 90*time.Second) }
}

// WithUserAgent sets the User-Agent header. Defaults to "sluice-go-client".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the server at baseURL (for example
// "http://127.0.0.1:8080"; empty means [DefaultBaseURL]) that authenticates
// with apiKey as a Bearer token. A trailing "/v2" on baseURL is accepted and
// ignored, so Runpod's RUNPOD_ENDPOINT_BASE_URL value works too. An empty
// apiKey sends no Authorization header.
func New(baseURL, apiKey string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	base := strings.TrimRight(baseURL, "/")
	base = strings.TrimSuffix(base, "/v2")
	c := &Client{
		base:       base,
		key:        apiKey,
		hc:         &http.Client{},
		userAgent:  "sluice-go-client",
		maxRetries: 4,
		backoffMin: 200 * time.Millisecond,
		backoffMax: 5 * time.Second,
		pollMin:    100 * time.Millisecond,
		pollMax:    time.Second,
		longPoll:   10 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the base URL requests are sent to, without a trailing
// slash or "/v2".
func (c *Client) BaseURL() string { return c.base }

// Endpoint returns a handle on the endpoint with the given id. It makes no
// request.
func (c *Client) Endpoint(id string) *Endpoint { return &Endpoint{c: c, id: id} }

// call describes one HTTP request.
type call struct {
	method     string
	path       string // below the base, starting with "/v2/"
	query      url.Values
	body       []byte // nil: no body
	idempotent bool   // safe to retry
	// onHead, when set, sees the headers of a 2xx response before its body
	// is read.
	onHead func(http.Header)
}

// do sends a call, retrying it when allowed, and returns the body of a 2xx
// response. Other statuses give an *APIError.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	resp, err := c.send(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if cl.onHead != nil && resp.StatusCode/100 == 2 {
		cl.onHead(resp.Header)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, newAPIError(resp.StatusCode, body)
	}
	return body, nil
}

// send sends a call with retries and returns a response whose status is
// 2xx, or an error. The caller closes the body.
func (c *Client) send(ctx context.Context, cl call) (*http.Response, error) {
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	pause := c.backoffMin
	for attempt := 0; ; attempt++ {
		req, err := c.newRequest(ctx, cl.method, u, cl.body)
		if err != nil {
			return nil, err
		}
		resp, err := c.hc.Do(req)
		retryable := cl.idempotent && attempt < c.maxRetries
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !retryable {
				return nil, err
			}
		case resp.StatusCode/100 == 2:
			return resp, nil
		case retryable && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500):
			wait = retryAfter(resp.Header.Get("Retry-After"))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		default:
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			if rerr != nil {
				return nil, fmt.Errorf("read error response (%d): %w", resp.StatusCode, rerr)
			}
			return nil, newAPIError(resp.StatusCode, body)
		}
		if wait == 0 {
			wait = jitter(pause)
			pause = min(pause*2, c.backoffMax)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (c *Client) newRequest(ctx context.Context, method, u string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), capped
// at one minute. Zero means absent or unusable.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	if d <= 0 {
		return 0
	}
	return min(d, time.Minute)
}

// jitter returns d plus up to 20% at random, so clients do not retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/5+1)
}

// sleep pauses for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isRouteMissing reports whether err is a 404 or 405 that may mean the
// server lacks a route (rather than lacking the job).
func isRouteMissing(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusMethodNotAllowed)
}
