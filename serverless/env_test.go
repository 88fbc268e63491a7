package serverless

import (
	"regexp"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestWorkerEnvURLs(t *testing.T) {
	e := workerEnvFrom(lookupFrom(map[string]string{
		"RUNPOD_WEBHOOK_GET_JOB":     "http://h/v2/ep/job-take/$ID?gpu=x&pod=$RUNPOD_POD_ID",
		"RUNPOD_WEBHOOK_POST_OUTPUT": "http://h/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=x",
		"RUNPOD_WEBHOOK_POST_STREAM": "http://h/v2/ep/job-stream/$RUNPOD_POD_ID/$ID?gpu=x",
		"RUNPOD_WEBHOOK_PING":        "http://h/v2/ep/ping/$RUNPOD_POD_ID",
		"RUNPOD_POD_ID":              "w1",
		"RUNPOD_PING_INTERVAL":       "4500",
		"RUNPOD_AI_API_KEY":          "k",
		"RUNPOD_LOG_LEVEL":           "INFO",
		"RUNPOD_DEBUG_LEVEL":         "ERROR",
	}))
	for got, want := range map[string]string{
		e.takeURL(1, false):        "http://h/v2/ep/job-take/w1?gpu=x&pod=$RUNPOD_POD_ID&job_in_progress=0",
		e.takeURL(1, true):         "http://h/v2/ep/job-take/w1?gpu=x&pod=$RUNPOD_POD_ID&job_in_progress=1",
		e.takeURL(4, true):         "http://h/v2/ep/job-take-batch/w1?gpu=x&pod=$RUNPOD_POD_ID&batch_size=4&job_in_progress=1",
		e.jobDoneURL("j/1", false): "http://h/v2/ep/job-done/w1/j/1?gpu=x&isStream=false",
		e.jobDoneURL("j", true):    "http://h/v2/ep/job-done/w1/j?gpu=x&isStream=true",
		e.jobStreamURL("j"):        "http://h/v2/ep/job-stream/w1/j?gpu=x&isStream=false",
		e.pingURL:                  "http://h/v2/ep/ping/w1",
		e.logLevel:                 "INFO",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if stop, ok := e.stopURL(); !ok || stop != "http://h/v2/ep/job-stop/w1?gpu=x&pod=$RUNPOD_POD_ID" {
		t.Errorf("stopURL = %q %v", stop, ok)
	}
	if e.pingInterval != 4500*time.Millisecond {
		t.Errorf("pingInterval = %s", e.pingInterval)
	}
	if ok, why := e.pingEnabled(); !ok {
		t.Errorf("ping disabled: %s", why)
	}
}

func TestWorkerEnvDefaults(t *testing.T) {
	e := workerEnvFrom(lookupFrom(map[string]string{"RUNPOD_DEBUG_LEVEL": "WARN", "RUNPOD_PING_INTERVAL": "abc"}))
	if e.getJobURL != "" || e.doneURL != "JOB_DONE_URL" || e.streamURL != "JOB_STREAM_URL" || e.pingURL != "PING_NOT_SET" {
		t.Errorf("defaults: %+v", e)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.workerID) {
		t.Errorf("worker id %q is not a random UUID", e.workerID)
	}
	if e.podID != "" || e.logLevel != "WARN" || e.pingInterval != 10*time.Second {
		t.Errorf("podID %q logLevel %q interval %s", e.podID, e.logLevel, e.pingInterval)
	}
	if ok, _ := e.pingEnabled(); ok {
		t.Errorf("ping enabled without key, pod id and URL")
	}
	if _, ok := workerEnvFrom(lookupFrom(map[string]string{"RUNPOD_WEBHOOK_GET_JOB": "http://h/take?x"})).stopURL(); ok {
		t.Errorf("stop channel enabled without /job-take/ in the URL")
	}
}
