package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestColdStart measures a few cold starts with the test binary as the
// managed endpoint's worker: every part is measured, the parts add up to
// the total, and the report prints them.
func TestColdStart(t *testing.T) {
	opts := workerOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := ColdStart(ctx, ColdOptions{Samples: 3, WorkerCommand: opts.WorkerCommand, WorkerEnv: opts.WorkerEnv})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Samples != 3 {
		t.Errorf("samples %d, want 3", rep.Samples)
	}
	for name, s := range map[string]Span{"total": rep.Total, "reaction": rep.Reaction, "sdk start": rep.SDKStart, "hand-off": rep.HandOff, "sluice": rep.Sluice, "worker": rep.Worker} {
		if s.P50 <= 0 || s.P90 < s.P50 {
			t.Errorf("%s: %+v, want 0 < p50 <= p90", name, s)
		}
	}
	if rep.Sluice.P50 >= rep.Total.P90 || rep.Worker.P50 >= rep.Total.P90 {
		t.Errorf("a part is larger than the total: %+v", rep)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 cold starts", "total", "Sluice's own part", "worker's own part"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestColdReportParts: each sample's parts add up to its total, and the
// percentiles are taken per part.
func TestColdReportParts(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var samples []coldSample
	for i := 1; i <= 10; i++ {
		s := coldSample{reaction: ms(i), spawn: ms(2), runtimeInit: ms(3), sdkStart: ms(4), handOff: ms(10 * i)}
		s.total = s.reaction + s.spawn + s.runtimeInit + s.sdkStart + s.handOff
		samples = append(samples, s)
	}
	r := coldReport(samples)
	if r.Reaction != (Span{ms(6), ms(10)}) || r.HandOff != (Span{ms(60), ms(100)}) || r.Sluice != (Span{ms(66), ms(110)}) || r.Worker != (Span{ms(9), ms(9)}) || r.Total != (Span{ms(75), ms(119)}) {
		t.Errorf("report %+v", r)
	}
}

func TestParseColdLine(t *testing.T) {
	i, tk, err := parseColdLine(coldLinePrefix + " init=1000 take=2500")
	if err != nil || i.UnixNano() != 1000 || tk.UnixNano() != 2500 {
		t.Errorf("parse: %v %v %v", i, tk, err)
	}
	for _, bad := range []string{coldLinePrefix, coldLinePrefix + " init=1 take=x", coldLinePrefix + " take=1 init=2", coldLinePrefix + " init=1 take=2 more"} {
		if _, _, err := parseColdLine(bad); err == nil {
			t.Errorf("parseColdLine(%q) accepted a bad line", bad)
		}
	}
}
