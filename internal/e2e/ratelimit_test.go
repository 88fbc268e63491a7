package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestRateLimits: a client key over a route's limit gets 429 with
// Retry-After and a JSON error; each key, endpoint and route has its own
// bucket; an endpoint's override applies to it; worker routes are never
// limited by the client limits.
func TestRateLimits(t *testing.T) {
	s, cfg := serveConfig(t, `apiKeys: [k1, k2]
rateLimits:
  "*": {perSecond: 0.01, burst: 3}
endpoints:
  - id: ep
  - id: strict
    rateLimits:
      health: {perSecond: 0.01, burst: 1}
`, []string{"SLUICE_API_KEYS="})
	const k1, k2 = "Bearer k1", "Bearer k2"
	for i := range 3 {
		if r := s.do(t, "GET", "/v2/ep/health", k1, nil); r.code != http.StatusOK {
			t.Fatalf("health %d within the burst: %d %s", i, r.code, r.body)
		}
	}
	r := s.do(t, "GET", "/v2/ep/health", k1, nil)
	msg, _ := r.json(t)["error"].(string)
	retry, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if r.code != http.StatusTooManyRequests || err != nil || retry < 1 || !strings.Contains(msg, "rate limit") ||
		r.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("health over the limit: %d Retry-After %q %s", r.code, r.hdr.Get("Retry-After"), r.body)
	}
	if r := s.do(t, "GET", "/v2/ep/health", k2, nil); r.code != http.StatusOK {
		t.Errorf("another key shares k1's bucket: %d %s", r.code, r.body)
	}
	if r := s.do(t, "GET", "/v2/strict/health", k2, nil); r.code != http.StatusOK {
		t.Errorf("strict health, first: %d %s", r.code, r.body)
	}
	if r := s.do(t, "GET", "/v2/strict/health", k2, nil); r.code != http.StatusTooManyRequests {
		t.Errorf("strict health past its override's burst of 1: %d %s", r.code, r.body)
	}

	// A worker makes many more requests than the client limit (takes,
	// results, pings) and is never limited: three jobs complete.
	s.startWorker(t, "ep", "w1", nil, "--config", cfg)
	for i := range 3 {
		r := s.do(t, "POST", "/v2/ep/runsync", k2, []byte(`{"input":{"echo":`+strconv.Itoa(i)+`}}`))
		if st, _ := r.json(t)["status"].(string); r.code != http.StatusOK || st != "COMPLETED" {
			t.Fatalf("runsync %d: %d %s", i, r.code, r.body)
		}
	}
	if r := s.do(t, "POST", "/v2/ep/runsync", k2, []byte(`{"input":{}}`)); r.code != http.StatusTooManyRequests {
		t.Errorf("a fourth runsync: %d %s, want 429", r.code, r.body)
	}
}
