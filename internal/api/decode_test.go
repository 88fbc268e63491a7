package api

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestParseWait: ?wait= is milliseconds clamped to 1 s .. 300 s, default as given.
func TestParseWait(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]time.Duration{
		"": 90 * time.Second, "wait=5000": 5 * time.Second, "wait=50": time.Second, "wait=0": time.Second,
		"wait=300000": 300 * time.Second, "wait=999999999": 300 * time.Second,
	} {
		got, err := parseWait(httptest.NewRequest("GET", "/x?"+q, nil), defaultRunsyncWait)
		if err != nil || got != want {
			t.Errorf("?%s: %v %v, want %v", q, got, err, want)
		}
	}
	for _, q := range []string{"wait=soon", "wait=-5", "wait=1.5"} {
		if _, err := parseWait(httptest.NewRequest("GET", "/x?"+q, nil), defaultRunsyncWait); err == nil {
			t.Errorf("?%s accepted", q)
		}
	}
}

// TestDefaults: the zero Config gets Runpod's limits and a 30 s long poll
// (runpod-python gives up on a job-take after 90 s).
func TestDefaults(t *testing.T) {
	t.Parallel()
	h := New(Config{Engine: newFakeEngine()})
	c := h.cfg
	if c.RunBodyLimit != 10<<20 || c.RunsyncBodyLimit != 20<<20 || c.TakeHold != 30*time.Second || c.StopHold != 30*time.Second ||
		c.ResultBodyLimit < 20<<20 || c.ChunkBodyLimit < 1<<20 || defaultRunsyncWait != 90*time.Second {
		t.Errorf("defaults: %+v", c)
	}
}
