package serverless

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults runpod-python uses for unset RUNPOD_* variables (docs/spec/runpod-worker-protocol.md 1.1).
const (
	defaultDoneURL      = "JOB_DONE_URL"
	defaultStreamURL    = "JOB_STREAM_URL"
	pingNotSet          = "PING_NOT_SET"
	defaultPingInterval = 10 * time.Second
)

// workerEnv is the RUNPOD_* environment the worker reads (docs/spec/runpod-worker-protocol.md 1.1), with
// the worker id already substituted into the URL templates.
type workerEnv struct {
	getJobURL    string        // RUNPOD_WEBHOOK_GET_JOB with $ID = worker id; "" when unset (=> local mode)
	doneURL      string        // RUNPOD_WEBHOOK_POST_OUTPUT with $RUNPOD_POD_ID = worker id; $ID is the job id
	streamURL    string        // RUNPOD_WEBHOOK_POST_STREAM, same placeholders as doneURL
	pingURL      string        // RUNPOD_WEBHOOK_PING with $RUNPOD_POD_ID = worker id; PING_NOT_SET when unset
	pingInterval time.Duration // RUNPOD_PING_INTERVAL (milliseconds), 10 s when unset or not a positive integer
	apiKey       string        // RUNPOD_AI_API_KEY, sent raw as Authorization
	podID        string        // RUNPOD_POD_ID, "" when unset
	workerID     string        // RUNPOD_POD_ID, or a random UUID when unset
	endpointID   string        // RUNPOD_ENDPOINT_ID; set => JSON log lines
	logLevel     string        // RUNPOD_LOG_LEVEL, else RUNPOD_DEBUG_LEVEL
}

// workerEnvFromOS reads the worker environment from the process.
func workerEnvFromOS() workerEnv { return workerEnvFrom(os.LookupEnv) }

// workerEnvFrom reads the worker environment through lookup.
func workerEnvFrom(lookup func(string) (string, bool)) workerEnv {
	get := func(name, fallback string) string {
		if v, ok := lookup(name); ok {
			return v
		}
		return fallback
	}
	e := workerEnv{
		apiKey:     get("RUNPOD_AI_API_KEY", ""),
		podID:      get("RUNPOD_POD_ID", ""),
		endpointID: get("RUNPOD_ENDPOINT_ID", ""),
		logLevel:   get("RUNPOD_LOG_LEVEL", get("RUNPOD_DEBUG_LEVEL", "")),
	}
	e.workerID = e.podID
	if _, ok := lookup("RUNPOD_POD_ID"); !ok {
		e.workerID = randomUUID()
	}
	e.getJobURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_GET_JOB", ""), "$ID", e.workerID)
	e.doneURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_POST_OUTPUT", defaultDoneURL), "$RUNPOD_POD_ID", e.workerID)
	e.streamURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_POST_STREAM", defaultStreamURL), "$RUNPOD_POD_ID", e.workerID)
	e.pingURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_PING", pingNotSet), "$RUNPOD_POD_ID", e.workerID)
	e.pingInterval = defaultPingInterval
	if ms, err := strconv.Atoi(get("RUNPOD_PING_INTERVAL", "")); err == nil && ms > 0 {
		e.pingInterval = time.Duration(ms) * time.Millisecond
	}
	return e
}

// takeURL is the job-take URL for n wanted jobs (docs/spec/runpod-worker-protocol.md 1.3): the batch URL
// when n > 1. Parameters are appended with a bare "&", as runpod-python does.
func (e workerEnv) takeURL(n int, inProgress bool) string {
	flag := "0"
	if inProgress {
		flag = "1"
	}
	if n > 1 {
		return strings.Replace(e.getJobURL, "/job-take/", "/job-take-batch/", 1) +
			"&batch_size=" + strconv.Itoa(n) + "&job_in_progress=" + flag
	}
	return e.getJobURL + "&job_in_progress=" + flag
}

// stopURL is the job-stop long-poll URL (docs/spec/runpod-worker-protocol.md 1.8), and false when the
// job-take URL has no "/job-take/" to derive it from.
func (e workerEnv) stopURL() (string, bool) {
	if !strings.Contains(e.getJobURL, "/job-take/") {
		return "", false
	}
	return strings.Replace(e.getJobURL, "/job-take/", "/job-stop/", 1), true
}

// jobDoneURL is the job-done URL for a job (docs/spec/runpod-worker-protocol.md 1.5).
func (e workerEnv) jobDoneURL(jobID string, isStream bool) string {
	return strings.ReplaceAll(e.doneURL, "$ID", jobID) + "&isStream=" + strconv.FormatBool(isStream)
}

// jobStreamURL is the job-stream URL for a job (docs/spec/runpod-worker-protocol.md 1.6); isStream is
// always false on chunk posts.
func (e workerEnv) jobStreamURL(jobID string) string {
	return strings.ReplaceAll(e.streamURL, "$ID", jobID) + "&isStream=false"
}

// validate checks that the URLs the worker must use are http(s) URLs, so
// a missing RUNPOD_WEBHOOK_POST_OUTPUT fails at start instead of losing
// every result.
func (e workerEnv) validate(streaming bool) error {
	check := func(name, raw string) error {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s is not an http(s) URL: %q", name, raw)
		}
		return nil
	}
	if err := check("RUNPOD_WEBHOOK_GET_JOB", e.getJobURL); err != nil {
		return err
	}
	if err := check("RUNPOD_WEBHOOK_POST_OUTPUT", e.doneURL); err != nil {
		return err
	}
	if streaming {
		return check("RUNPOD_WEBHOOK_POST_STREAM", e.streamURL)
	}
	return nil
}

// pingEnabled reports whether heartbeats are sent, and why not (docs/spec/runpod-worker-protocol.md 1.9).
func (e workerEnv) pingEnabled() (bool, string) {
	switch {
	case e.apiKey == "":
		return false, "RUNPOD_AI_API_KEY is not set"
	case e.podID == "":
		return false, "RUNPOD_POD_ID is not set"
	case e.pingURL == "" || e.pingURL == pingNotSet:
		return false, "RUNPOD_WEBHOOK_PING is not set"
	}
	return true, ""
}

// randomUUID returns a random (version 4) UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
