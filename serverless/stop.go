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

// Job-stop poll timing (docs/spec/runpod-worker-protocol.md 1.8). Variables so tests can shorten them.
var (
	// stopPollPause is the pause after a stop poll that named no job, and
	// after a failed one.
	stopPollPause = time.Second
	// stopPollTimeout bounds one job-stop long poll on the client side.
	stopPollTimeout = 90 * time.Second
)

// pollStops makes one job-stop long poll and returns the job ids to stop.
func (p *platform) pollStops(ctx context.Context, url string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, stopPollTimeout)
	defer cancel()
	req, err := p.newRequest(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("poll job-stop: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("poll job-stop: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("poll job-stop: read response: %w", err)
	}
	ids, err := parseStopResponse(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if err != nil {
		return ids, fmt.Errorf("poll job-stop: %w", err)
	}
	return ids, nil
}

// errBadStopPayload is a job-stop response that is not {"jobsToStop": [...]}.
var errBadStopPayload = errors.New(`job-stop response is not {"jobsToStop": [...]}`)

// parseStopResponse interprets a job-stop response (docs/spec/runpod-worker-protocol.md 1.8): 204 is no
// ids, 429 is errTooManyRequests, other statuses >= 400 are errors, a
// malformed body is errBadStopPayload (no ids), and non-string entries of
// jobsToStop are dropped (reported in the error alongside the valid ids).
func parseStopResponse(status int, contentType string, body []byte) ([]string, error) {
	switch {
	case status == http.StatusNoContent:
		return nil, nil
	case status == http.StatusTooManyRequests:
		return nil, errTooManyRequests
	case status >= 400:
		return nil, &statusError{code: status, body: string(bytes.TrimSpace(truncateBytes(body, 512)))}
	}
	if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || mediaType != "application/json" {
		return nil, errBadStopPayload
	}
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(body, &payload); err != nil {
		return nil, errBadStopPayload
	}
	var list []json.RawMessage
	if err := json.Unmarshal(payload["jobsToStop"], &list); err != nil || list == nil {
		return nil, errBadStopPayload
	}
	var ids []string
	dropped := 0
	for _, raw := range list {
		var id string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &id) != nil {
			dropped++
			continue
		}
		ids = append(ids, id)
	}
	if dropped > 0 {
		return ids, fmt.Errorf("dropped %d non-string entries of jobsToStop", dropped)
	}
	return ids, nil
}
