package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// Job-take timing (docs/spec/runpod-worker-protocol.md 1.3, 2.11). Variables so tests can shorten them.
var (
	// tooManyRequestsBackoff is the pause after a 429 from job-take or job-stop.
	tooManyRequestsBackoff = 5 * time.Second
	// takeTimeout bounds one job-take long poll on the client side.
	takeTimeout = 90 * time.Second
	// takeErrorPause is the pause after a failed job-take (connection error
	// or an unexpected status). runpod-python re-polls at once, which spins
	// when the platform is down.
	takeErrorPause = time.Second
	// maxTakeBody bounds the job-take response read.
	maxTakeBody int64 = 256 << 20
)

// errTooManyRequests is a 429 from job-take or job-stop.
var errTooManyRequests = errors.New("too many requests (HTTP 429)")

// take asks job-take (or job-take-batch when n > 1) for up to n jobs.
// It returns no jobs and no error when the platform has none. bad reports
// array entries that were not valid jobs, which were left out.
func (p *platform) take(ctx context.Context, n int, inProgress bool) (jobs []*Job, bad error, err error) {
	ctx, cancel := context.WithTimeout(ctx, takeTimeout)
	defer cancel()
	url := p.env.takeURL(n, inProgress)
	req, err := p.newRequest(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("take job: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("take job: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTakeBody))
	if err != nil {
		return nil, nil, fmt.Errorf("take job: read response: %w", err)
	}
	jobs, bad, err = parseTakeResponse(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, nil, fmt.Errorf("take job: %w", err)
	}
	return jobs, bad, nil
}

// parseTakeResponse interprets a job-take response exactly as the table of
// docs/spec/runpod-worker-protocol.md 1.3: 204 and 400 are no jobs; 429 is errTooManyRequests; other
// statuses >= 400 are errors; a non-JSON content type, an empty or invalid
// body, null, a string or a number are no jobs; an object must have "id"
// and "input" (else an error); an array is a list of jobs. Unlike
// runpod-python, array entries are validated too: invalid ones are left
// out and reported in bad, and the valid ones are returned.
func parseTakeResponse(status int, contentType string, body []byte) (jobs []*Job, bad error, err error) {
	switch {
	case status == http.StatusNoContent || status == http.StatusBadRequest:
		return nil, nil, nil
	case status == http.StatusTooManyRequests:
		return nil, nil, errTooManyRequests
	case status >= 400:
		return nil, nil, &statusError{code: status, body: string(bytes.TrimSpace(truncateBytes(body, 512)))}
	}
	if mediaType, _, perr := mime.ParseMediaType(contentType); perr != nil || mediaType != "application/json" {
		return nil, nil, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil, nil, nil
	}
	switch trimmed[0] {
	case '{':
		job, err := parseJob(trimmed)
		if err != nil {
			return nil, nil, err
		}
		return []*Job{job}, nil, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, nil, nil
		}
		var errs []error
		for i, item := range items {
			job, err := parseJob(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("job %d of %d: %w", i+1, len(items), err))
				continue
			}
			jobs = append(jobs, job)
		}
		return jobs, errors.Join(errs...), nil
	}
	return nil, nil, nil // null, a string, a number, a boolean
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
