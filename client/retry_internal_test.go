package client

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-3":                            0,
		"2":                             2 * time.Second,
		"3600":                          time.Minute, // capped
		"soon":                          0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0, // in the past
	}
	for h, want := range cases {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
	future := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < 25*time.Second || got > 30*time.Second {
		t.Errorf("retryAfter(%q) = %v, want about 30s", future, got)
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	for range 100 {
		if got := jitter(time.Second); got < time.Second || got > 1200*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, want 1s..1.2s", got)
		}
	}
	if jitter(0) != 0 {
		t.Error("jitter(0) != 0")
	}
}
