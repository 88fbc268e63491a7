package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

var cfg = serverless.Config{Handler: handler}

func TestQuotient(t *testing.T) {
	res := serverlesstest.Run(t, cfg, map[string]float64{"divide": 10, "by": 4})
	res.RequireCompleted(t)
	if string(res.Output) != `{"quotient":2.5}` {
		t.Errorf("output %s", res.Output)
	}
}

func TestReturnedErrorMap(t *testing.T) {
	res := serverlesstest.Run(t, cfg, map[string]float64{"divide": 10})
	if msg := res.RequireFailed(t); msg != `input needs "divide" and "by"` || res.Err != nil {
		t.Errorf("message %q, Err %v", msg, res.Err)
	}
	if string(res.Body) != `{"error":"input needs \"divide\" and \"by\""}` {
		t.Errorf("body %s, want the error verbatim", res.Body)
	}
}

func TestReturnedGoError(t *testing.T) {
	res := serverlesstest.Run(t, cfg, map[string]float64{"divide": 1, "by": 0})
	if msg := res.RequireFailed(t); msg != "divide 1: division by zero" {
		t.Errorf("message %q", msg)
	}
	if !errors.Is(res.Err, errDivideByZero) {
		t.Errorf("Err %v does not wrap errDivideByZero", res.Err)
	}
	var payload map[string]string
	if err := json.Unmarshal([]byte(res.Error), &payload); err != nil || payload["error_traceback"] == "" {
		t.Errorf("error %q is not the JSON error object with a traceback: %v", res.Error, err)
	}
}

func TestPanicFailsOnlyTheJob(t *testing.T) {
	res := serverlesstest.Run(t, cfg, map[string]bool{"panic": true})
	if msg := res.RequireFailed(t); msg != "asked to panic" {
		t.Errorf("message %q", msg)
	}
	// The next job runs normally.
	serverlesstest.Run(t, cfg, map[string]float64{"divide": 1, "by": 1}).RequireCompleted(t)
}
