package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/wire"
)

// TestExtensions checks GET /v2/endpoints (filtered by the caller's key),
// /workers and /logs behind client auth, and 404s when not configured.
func TestExtensions(t *testing.T) {
	t.Parallel()
	keys := Keys{EndpointClient: map[string][]string{"ep": {"ep-key"}, "other": {"other-key"}}, Worker: map[string]string{"ep": testWorkerKey}}
	srv, _ := newTestServer(t, keys, func(c *Config) {
		c.Extensions = Extensions{
			Endpoints: func(context.Context) []wire.EndpointInfo {
				return []wire.EndpointInfo{{ID: "ep", Managed: true, WorkersMax: 2}, {ID: "other"}}
			},
			Workers: func(_ context.Context, ep string) (any, error) {
				return []map[string]string{{"id": "w-" + ep}}, nil
			},
			Logs: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("logs of " + r.PathValue("endpoint")))
			}),
		}
	})
	cases := []struct {
		path, auth string
		code       int
		body       string
	}{
		{"/v2/endpoints", "Bearer ep-key", 200, `{"endpoints":[{"id":"ep","managed":true,"workersMin":0,"workersMax":2,"workers":0,"inQueue":0,"inProgress":0,"executionTimeoutMs":0}]}`},
		{"/v2/endpoints", "Bearer nope", 401, ""},
		{"/v2/endpoints", testWorkerKey, 401, ""},
		{"/v2/ep/workers", "Bearer ep-key", 200, `{"workers":[{"id":"w-ep"}]}`},
		{"/v2/ep/workers", "Bearer other-key", 401, ""},
		{"/v2/ep/logs", "Bearer ep-key", 200, "logs of ep"},
		{"/v2/nope/logs", "", 404, ""},
	}
	for _, c := range cases {
		r := call(t, srv, "GET", c.path, c.auth, nil)
		if r.code != c.code || (c.body != "" && strings.TrimSpace(string(r.body)) != c.body) {
			t.Errorf("GET %s (%s) = %d %s; want %d %s", c.path, c.auth, r.code, r.body, c.code, c.body)
		}
	}
	bare, _ := newTestServer(t, testKeys(), nil)
	for _, p := range []string{"/v2/endpoints", "/v2/ep/workers", "/v2/ep/logs"} {
		if r := call(t, bare, "GET", p, bearer, nil); r.code != 404 {
			t.Errorf("GET %s without extensions: %d", p, r.code)
		}
	}
}

// TestMetricsRoute: GET /metrics takes a key that opens every endpoint
// (an endpoint's own key or a worker key does not), and is a 404 when the
// server exports no metrics.
func TestMetricsRoute(t *testing.T) {
	keys := testKeys()
	keys.EndpointClient = map[string][]string{"ep": {"ep-key"}}
	srv, _ := newTestServer(t, keys, func(c *Config) {
		c.Extensions.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("sluice_jobs_queued 0\n"))
		})
	})
	for _, c := range []struct {
		auth string
		code int
	}{{bearer, 200}, {"Bearer ep-key", 401}, {testWorkerKey, 401}, {"", 401}} {
		r := call(t, srv, "GET", "/metrics", c.auth, nil)
		if r.code != c.code || (c.code == 200 && string(r.body) != "sluice_jobs_queued 0\n") {
			t.Errorf("GET /metrics (%q) = %d %s; want %d", c.auth, r.code, r.body, c.code)
		}
	}
	if r := call(t, srv, "POST", "/metrics", bearer, nil); r.code != 405 {
		t.Errorf("POST /metrics = %d, want 405", r.code)
	}
	bare, _ := newTestServer(t, testKeys(), nil)
	if r := call(t, bare, "GET", "/metrics", bearer, nil); r.code != 404 {
		t.Errorf("GET /metrics without metrics: %d, want 404", r.code)
	}
}
