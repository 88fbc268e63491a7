package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzLoadTestJob feeds arbitrary --test_input values to the test job
// parser: it must never panic, and a job it accepts has a string id and a
// non-null input.
func FuzzLoadTestJob(f *testing.F) {
	for _, seed := range []string{
		`{"input": {"a": 1}}`, `{"id": "x", "input": null}`, `{"input": 1, "webhook": "h"}`,
		`[]`, `null`, `{"id": 1, "input": 2}`, `{"input"`, `"str"`, `{"id": "", "input": 0}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // "" means "read ./test_input.json"
		}
		job, err := loadTestJob(s)
		if err != nil {
			return
		}
		if job.ID == "" || len(job.Input) == 0 || bytes.Equal(job.Input, []byte("null")) {
			t.Errorf("accepted %q as a job with id %q and input %s", s, job.ID, job.Input)
		}
	})
}

// FuzzLocalAPISubmit feeds arbitrary /run and /runsync bodies to the local
// API server: bad input gets a 4xx JSON error, never a 5xx or a panic, and
// an accepted job gets an id.
func FuzzLocalAPISubmit(f *testing.F) {
	for _, seed := range []string{
		`{"input": {"a": 1}}`, `{"input": null}`, `{"input": 1, "webhook": "http://127.0.0.1:1/h"}`,
		`{"input": 1, "webhook": 7}`, `{"input": 1, "policy": {"executionTimeout": 6000, "ttl": 1}}`,
		`{"input": 1, "policy": null}`, `{"input": 1, "s3Config": {"x": 1}}`, `[1]`, `{`, ``,
	} {
		f.Add(seed)
	}
	cfg := &Config{Handler: func(ctx context.Context, job *Job) (any, error) { return nil, nil }}
	f.Fuzz(func(t *testing.T, body string) {
		// A fresh server per input, never started: accepted jobs stay queued.
		a := newLocalAPI(cfg, testLog(t), 1)
		a.lifetime = context.Background()
		h := a.routes()
		for _, path := range []string{"/run", "/v2/ep/runsync?wait=1000"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			if strings.Contains(path, "runsync") {
				// Nothing runs the queue: answer at once instead of waiting.
				ctx, cancel := context.WithCancel(req.Context())
				cancel()
				req = req.WithContext(ctx)
			}
			h.ServeHTTP(rec, req)
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s %q: answer %s is not JSON: %v", path, body, rec.Body, err)
			}
			switch {
			case rec.Code >= 500:
				t.Fatalf("%s %q: status %d", path, body, rec.Code)
			case rec.Code == http.StatusOK:
				if id, _ := got["id"].(string); id == "" {
					t.Errorf("%s %q: accepted without an id: %s", path, body, rec.Body)
				}
			default:
				if msg, _ := got["error"].(string); msg == "" || rec.Code < 400 {
					t.Errorf("%s %q: status %d with body %s, want a 4xx JSON error", path, body, rec.Code, rec.Body)
				}
			}
		}
	})
}
