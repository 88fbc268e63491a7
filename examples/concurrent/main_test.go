package main

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func TestModifierGrowsToLimit(t *testing.T) {
	m := modifier(3)
	got := []int{}
	for c := 1; len(got) < 4; c = m(c) {
		got = append(got, c)
	}
	if want := []int{1, 2, 3, 3}; len(got) != 4 || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("concurrency sequence %v, want %v", got, want)
	}
	if m(0) != 1 {
		t.Errorf("modifier(0) = %d, want at least 1", m(0))
	}
}

func TestMaxConcurrency(t *testing.T) {
	for v, want := range map[string]int{"": 4, "8": 8, "x": 4, "-1": 4} {
		if got := maxConcurrency(func(string) string { return v }); got != want {
			t.Errorf("MAX_CONCURRENCY=%q gives %d, want %d", v, got, want)
		}
	}
}

func TestWork(t *testing.T) {
	cfg := serverless.Config{Handler: serverless.Typed(work), ConcurrencyModifier: modifier(4)}
	res := serverlesstest.Run(t, cfg, input{SleepMS: 5})
	res.RequireCompleted(t)
	if got := serverlesstest.Decode[map[string]int](t, res.Output); got["slept_ms"] < 5 {
		t.Errorf("output %v, want slept_ms >= 5", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = serverlesstest.Run(t, cfg, input{SleepMS: 60_000}, serverlesstest.WithContext(ctx))
	if res.RequireFailed(t); !errors.Is(res.Err, context.Canceled) {
		t.Errorf("cancelled job: Err %v", res.Err)
	}
}
