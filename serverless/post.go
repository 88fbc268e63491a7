package serverless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"time"
)

// Retry bounds of job-done and job-stream posts. runpod-python tries three
// times on 5xx only; a finished result must not be lost, so the worker
// keeps trying on 5xx, 429 and connection errors for postRetryFor, waiting
// postBackoffMin, doubling up to postBackoffMax. Variables so tests can
// shorten them.
var (
	postRetryFor       = 5 * time.Minute
	progressRetryFor   = 30 * time.Second // progress blocks the handler: give up sooner
	postBackoffMin     = time.Second
	postBackoffMax     = 15 * time.Second
	postAttemptTimeout = 2 * time.Minute
)

// userAgent names the SDK in every request, like runpod-python's
// "RunPod-Python-SDK/<v> (<os>; <arch>) Language/Python <v>".
var userAgent = fmt.Sprintf("sluice-serverless-go/%s (%s; %s) Language/Go %s",
	Version, runtime.GOOS, runtime.GOARCH, runtime.Version())

// platform is the worker's HTTP side of the worker protocol (docs/spec/runpod-worker-protocol.md 1).
type platform struct {
	env       workerEnv
	client    *http.Client
	transport *http.Transport
	log       *slog.Logger
}

func newPlatform(env workerEnv, log *slog.Logger) *platform {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &platform{env: env, transport: tr, client: &http.Client{Transport: tr}, log: log}
}

// close releases idle connections.
func (p *platform) close() { p.transport.CloseIdleConnections() }

// newRequest builds a request with the headers of docs/spec/runpod-worker-protocol.md 1.2: raw
// Authorization, JSON content type, the SDK's User-Agent.
func (p *platform) newRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", p.env.apiKey)
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// statusError is an HTTP response status the worker did not expect.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d", e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// postJSON posts body for job jobID to url with the job-done headers of
// docs/spec/runpod-worker-protocol.md 1.5 (form content type over a JSON body, "charset: utf-8",
// X-Request-ID), retrying 5xx, 429 and connection errors with capped
// exponential backoff for retryFor. Other 4xx are not retried. It gives
// up early when ctx is done.
func (p *platform) postJSON(ctx context.Context, url, jobID string, body []byte, retryFor time.Duration) error {
	deadline := time.Now().Add(retryFor)
	wait := postBackoffMin
	for attempt := 1; ; attempt++ {
		err := p.postOnce(ctx, url, jobID, body)
		if err == nil {
			return nil
		}
		var se *statusError
		retryable := !errors.As(err, &se) || se.code >= 500 || se.code == http.StatusTooManyRequests
		if ctx.Err() != nil {
			return fmt.Errorf("post %s (attempt %d): %w", url, attempt, ctx.Err())
		}
		if !retryable || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("post %s (attempt %d, giving up): %w", url, attempt, err)
		}
		p.log.Warn(fmt.Sprintf("Post failed, retrying in %s. | %v", wait, err), LogKeyJobID, jobID)
		if err := sleepCtx(ctx, wait); err != nil {
			return fmt.Errorf("post %s (attempt %d): %w", url, attempt, err)
		}
		wait = min(2*wait, postBackoffMax)
	}
}

func (p *platform) postOnce(ctx context.Context, url, jobID string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, postAttemptTimeout)
	defer cancel()
	req, err := p.newRequest(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("charset", "utf-8")
	req.Header.Set("X-Request-ID", jobID)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 {
		return &statusError{code: resp.StatusCode, body: string(bytes.TrimSpace(text))}
	}
	return nil
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
