package main

import (
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func TestHandlerEchoes(t *testing.T) {
	res := serverlesstest.Run(t, serverless.Config{Handler: handler}, map[string]any{"message": "hi", "n": 2})
	res.RequireCompleted(t)
	if string(res.Body) != `{"output":{"echo":{"message":"hi","n":2}}}` {
		t.Errorf("body %s", res.Body)
	}
}
