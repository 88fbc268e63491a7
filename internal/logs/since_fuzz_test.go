package logs

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseSince: since= never panics, its error is short, and a duration
// it accepts is a time no later than now.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"10m", "2026-01-02T15:04:05Z", "-5m", "1e300h", "yesterday", "8784h1ns", "2026-01-02T15:04:05.999999999+01:00"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseSince(v, now)
		if err != nil {
			if !strings.Contains(err.Error(), "since must be") || len(err.Error()) > 300 {
				t.Fatalf("error %q", err)
			}
			return
		}
		if _, terr := time.Parse(time.RFC3339Nano, v); terr != nil && got.After(now) {
			t.Fatalf("duration %q gave %s, after now", v, got)
		}
	})
}
