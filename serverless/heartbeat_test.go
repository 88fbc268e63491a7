package serverless

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestPingHonoursRetryAfter: a 429 or 503 with Retry-After delays the next
// attempt as asked (seconds or an HTTP date) instead of the short backoff;
// a 500's Retry-After is not a reason to wait.
func TestPingHonoursRetryAfter(t *testing.T) {
	fastTimings(t) // pingBackoff 10 ms
	for _, tc := range []struct {
		name    string
		status  int
		after   func() string
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"429 seconds", 429, func() string { return "1" }, time.Second, time.Minute},
		{"503 http date", 503, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, time.Second, time.Minute},
		{"500 ignores it", 500, func() string { return "30" }, 0, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var at []time.Time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				at = append(at, time.Now())
				n := len(at)
				mu.Unlock()
				if n == 1 {
					w.Header().Set("Retry-After", tc.after())
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			p := newPlatform(workerEnv{pingURL: srv.URL + "/ping", pingInterval: time.Second}, slog.New(slog.DiscardHandler))
			defer p.close()
			if err := p.ping(t.Context(), nil); err != nil {
				t.Fatalf("ping: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 2 {
				t.Fatalf("%d attempts, want 2", len(at))
			}
			if gap := at[1].Sub(at[0]); gap < tc.atLeast || gap > tc.atMost {
				t.Errorf("retry %s after the %d with Retry-After, want %s to %s", gap, tc.status, tc.atLeast, tc.atMost)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		if got, ok := parseRetryAfter(tc.in, now); got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
