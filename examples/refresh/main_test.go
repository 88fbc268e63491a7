package main

import (
	"testing"

	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

func TestRefreshWhenDirty(t *testing.T) {
	noEnv := func(string) string { return "" }
	res := serverlesstest.Run(t, config(noEnv), input{Dirty: true})
	res.RequireCompleted(t)
	if !res.StopPod || string(res.Body) != `{"output":{"cleaned":false},"stopPod":true}` {
		t.Errorf("dirty job: stopPod %v, body %s", res.StopPod, res.Body)
	}
	res = serverlesstest.Run(t, config(noEnv), input{Dirty: false})
	if res.StopPod || string(res.Body) != `{"output":{"cleaned":true}}` {
		t.Errorf("clean job: stopPod %v, body %s", res.StopPod, res.Body)
	}
}

func TestRefreshEveryJob(t *testing.T) {
	env := func(k string) string {
		if k == "REFRESH_EVERY_JOB" {
			return "true"
		}
		return ""
	}
	res := serverlesstest.Run(t, config(env), input{Dirty: false})
	if !res.StopPod {
		t.Errorf("REFRESH_EVERY_JOB=true: body %s, want stopPod", res.Body)
	}
}
