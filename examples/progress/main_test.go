package main

import (
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func TestProgressUpdatesInOrder(t *testing.T) {
	res := serverlesstest.Run(t, serverless.Config{Handler: handler}, input{Steps: 4})
	res.RequireCompleted(t)
	got := serverlesstest.Progress[progress](t, res)
	if len(got) != 4 {
		t.Fatalf("%d progress updates, want 4", len(got))
	}
	for i, p := range got {
		if want := (progress{Step: i + 1, Of: 4, Percent: 25 * (i + 1)}); p != want {
			t.Errorf("update %d = %+v, want %+v", i, p, want)
		}
	}
	if string(res.Output) != `{"done":4}` {
		t.Errorf("output %s", res.Output)
	}
}

func TestStepsOutOfRange(t *testing.T) {
	res := serverlesstest.Run(t, serverless.Config{Handler: handler}, input{Steps: 0})
	if msg := res.RequireFailed(t); msg != "steps must be 1 to 1000, got 0" || len(res.Progress) != 0 {
		t.Errorf("message %q, %d updates", msg, len(res.Progress))
	}
}
