package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestAdminReload checks POST /v2/admin/reload: only a key that opens
// every endpoint (or none configured at all) gets in; the changes are
// answered as JSON, a refused config 400 with its message, any other
// failure 500 without its cause (golden file admin_reload).
func TestAdminReload(t *testing.T) {
	t.Parallel()
	var next error
	ext := func(c *Config) {
		c.Extensions.Reload = func(context.Context) ([]string, error) {
			if next != nil {
				return nil, next
			}
			return []string{"endpoint b added"}, nil
		}
	}
	keys := testKeys()
	keys.EndpointClient = map[string][]string{"ep": {"ep-key"}}
	srv, _ := newTestServer(t, keys, ext)
	var tr transcript
	tr.add("no key", call(t, srv, "POST", "/v2/admin/reload", "", nil))
	tr.add("worker key", call(t, srv, "POST", "/v2/admin/reload", testWorkerKey, nil))
	tr.add("per-endpoint key", call(t, srv, "POST", "/v2/admin/reload", "Bearer ep-key", nil))
	tr.add("wrong key", call(t, srv, "POST", "/v2/admin/reload", "Bearer nope", nil))
	tr.add("GET", call(t, srv, "GET", "/v2/admin/reload", bearer, nil))
	tr.add("client key", call(t, srv, "POST", "/v2/admin/reload", bearer, nil))
	next = &ReloadError{Err: errors.New("sluice.yaml:4: endpoints[0].workersMaxx: unknown field (misspelt?)")}
	tr.add("refused", call(t, srv, "POST", "/v2/admin/reload", bearer, nil))
	next = fmt.Errorf("reload: %w", errors.New("disk on fire"))
	r := call(t, srv, "POST", "/v2/admin/reload", bearer, nil)
	tr.add("failed", r)
	if strings.Contains(string(r.body), "disk on fire") {
		t.Errorf("an internal cause reached the client: %s", r.body)
	}
	next = nil

	// No key configured anywhere: open, as the client API (loopback only).
	open, _ := newTestServer(t, Keys{Worker: map[string]string{"ep": testWorkerKey}}, ext)
	tr.add("no keys configured, no key", call(t, open, "POST", "/v2/admin/reload", "", nil))
	// Only per-endpoint keys: no key opens every endpoint, so none gets in.
	perEP, _ := newTestServer(t, Keys{EndpointClient: map[string][]string{"ep": {"ep-key"}}, Worker: map[string]string{"ep": testWorkerKey}}, ext)
	tr.add("only per-endpoint keys configured", call(t, perEP, "POST", "/v2/admin/reload", "Bearer ep-key", nil))
	bare, _ := newTestServer(t, testKeys(), nil)
	tr.add("no Reload extension", call(t, bare, "POST", "/v2/admin/reload", bearer, nil))
	testutil.Golden(t, "admin_reload", tr.Bytes())
}

// TestSetKeys: keys swapped on a running handler apply to the next request;
// a previous worker key reports held jobs (ping, job-done) but takes none.
func TestSetKeys(t *testing.T) {
	t.Parallel()
	srv, fe := newTestServer(t, testKeys(), nil)
	h := srv.Config.Handler.(*Handler)
	if r := call(t, srv, "GET", "/v2/ep/health", "Bearer new-key", nil); r.code != 401 {
		t.Fatalf("unknown key before the swap: %d", r.code)
	}
	call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":{"n":1}}`))
	if r := call(t, srv, "GET", "/v2/ep/job-take/w1", testWorkerKey, nil); r.code != 200 {
		t.Fatalf("job-take before the swap: %d %s", r.code, r.body)
	}

	h.SetKeys(Keys{
		Client:   []string{"new-key"},
		Worker:   map[string]string{"ep": "new-worker-key"},
		Previous: map[string][]string{"ep": {testWorkerKey}},
	})
	for _, c := range []struct {
		method, path, auth string
		body               string
		code               int
		msg                string
	}{
		{"GET", "/v2/ep/health", "Bearer new-key", "", 200, ""},
		{"GET", "/v2/ep/health", bearer, "", 401, "invalid API key"},
		{"GET", "/v2/ep/health", "Bearer " + testWorkerKey, "", 401, "this is a worker key"},
		{"GET", "/v2/ep/ping/w1?job_id=job-1", testWorkerKey, "", 200, ""},
		{"GET", "/v2/ep/job-take/w1", testWorkerKey, "", 401, "replaced by a config reload"},
		{"GET", "/v2/ep/job-take-batch/w1", testWorkerKey, "", 401, "replaced by a config reload"},
		{"GET", "/v2/other/ping/w1", testWorkerKey, "", 401, "invalid worker key"},
		{"POST", "/v2/ep/job-done/w1/job-1", testWorkerKey, `{"output":"held"}`, 200, ""},
		{"GET", "/v2/ep/job-take/w2", "new-worker-key", "", 204, ""},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		r := call(t, srv, c.method, c.path, c.auth, body)
		if r.code != c.code || !strings.Contains(string(r.body), c.msg) {
			t.Errorf("%s %s (%s) after the swap: %d %s; want %d %q", c.method, c.path, c.auth, r.code, r.body, c.code, c.msg)
		}
	}
	if got := string(fe.results["job-1"].Output); got != `"held"` {
		t.Errorf("the held job's result sent with the previous key: %q", got)
	}
}

// TestSetKeysConcurrent swaps keys while requests run (for -race): every
// answer is 200 with a key valid in both sets, and the handler never fails.
func TestSetKeysConcurrent(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, testKeys(), nil)
	h := srv.Config.Handler.(*Handler)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			k := testKeys()
			k.Client = append(k.Client, fmt.Sprintf("extra-%d", i))
			h.SetKeys(k)
		}
	}()
	for range 100 {
		if r := call(t, srv, "GET", "/v2/ep/health", bearer, nil); r.code != 200 {
			t.Fatalf("health during key swaps: %d %s", r.code, r.body)
		}
	}
	<-done
}
