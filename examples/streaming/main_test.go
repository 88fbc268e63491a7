package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func noEnv(string) string { return "" }

func TestWordsAreStreamedInOrder(t *testing.T) {
	res := serverlesstest.Run(t, config(nil, noEnv), input{Text: "one two  three"})
	res.RequireCompleted(t)
	if got := serverlesstest.Chunks[string](t, res); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("chunks %q", got)
	}
	if string(res.Output) != "[]" {
		t.Errorf("output %s, want [] without aggregation", res.Output)
	}
}

func TestAggregate(t *testing.T) {
	env := func(k string) string {
		if k == "STREAM_AGGREGATE" {
			return "true"
		}
		return ""
	}
	for name, cfg := range map[string]struct {
		args []string
		env  func(string) string
	}{"flag": {[]string{"--aggregate"}, noEnv}, "env": {nil, env}} {
		res := serverlesstest.Run(t, config(cfg.args, cfg.env), input{Text: "a b"})
		if got := serverlesstest.Decode[[]string](t, res.Output); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("%s: aggregate output %q", name, got)
		}
	}
}

func TestCancelledStreamFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := serverlesstest.Run(t, config(nil, noEnv), input{Text: "a b", DelayMS: 1000}, serverlesstest.WithContext(ctx))
	res.RequireFailed(t)
	if !errors.Is(res.Err, context.Canceled) || len(res.Chunks) != 0 {
		t.Errorf("Err %v, chunks %d; want context.Canceled and no chunks", res.Err, len(res.Chunks))
	}
}

func TestBadInputFails(t *testing.T) {
	res := serverlesstest.Run(t, config(nil, noEnv), map[string]any{"text": 5})
	if msg := res.RequireFailed(t); msg == "" {
		t.Error("no error message for a numeric text")
	}
}
