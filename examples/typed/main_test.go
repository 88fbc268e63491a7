package main

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

var cfg = serverless.Config{Handler: serverless.Typed(calculate)}

func TestOps(t *testing.T) {
	for op, want := range map[string]float64{"sum": 6.5, "product": 7, "max": 3.5} {
		res := serverlesstest.Run(t, cfg, Input{Op: op, Numbers: []float64{1, 2, 3.5}})
		res.RequireCompleted(t)
		if got := serverlesstest.Decode[Output](t, res.Output); got != (Output{Op: op, Result: want}) {
			t.Errorf("%s: %+v, want %v", op, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		input any
		want  string
	}{
		"wrong field type": {map[string]any{"op": "sum", "numbers": "1,2"}, `"numbers"`},
		"unknown op":       {Input{Op: "div", Numbers: []float64{1, 2}}, `unknown op "div"`},
		"no numbers":       {Input{Op: "sum"}, "no numbers"},
	}
	for name, c := range cases {
		res := serverlesstest.Run(t, cfg, c.input)
		if msg := res.RequireFailed(t); !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q, want it to mention %s", name, msg, c.want)
		}
	}
}
