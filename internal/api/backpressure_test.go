package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/engine"
)

// TestBackpressure: a full queue or store answers /run and /runsync 429
// with Retry-After and a JSON error naming the limit; a job store that does
// not answer is 503 with Retry-After, never 500.
func TestBackpressure(t *testing.T) {
	srv, fe := newTestServer(t, testKeys(), nil)
	cases := []struct {
		name string
		err  error
		code int
		says string
	}{
		{"maxQueue", fmt.Errorf("submit to ep: 5 jobs queued, at the endpoint's maxQueue of 5: %w", engine.ErrQueueFull), 429, "maxQueue"},
		{"maxStorage", fmt.Errorf("store job: %w", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}), 429, "maxStorage"},
		{"store down", fmt.Errorf("store job: %w", nats.ErrTimeout), 503, "not available"},
	}
	for _, c := range cases {
		for _, route := range []string{"/v2/ep/run", "/v2/ep/runsync"} {
			fe.mu.Lock()
			fe.submitErr = c.err
			fe.mu.Unlock()
			r := call(t, srv, "POST", route, bearer, []byte(`{"input":1}`))
			var body errorBody
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("%s %s: body %s: %v", c.name, route, r.body, err)
			}
			if r.code != c.code || r.header.Get("Retry-After") == "" || !strings.Contains(body.Error, c.says) {
				t.Errorf("%s %s: %d Retry-After %q %s; want %d with Retry-After naming %q",
					c.name, route, r.code, r.header.Get("Retry-After"), r.body, c.code, c.says)
			}
		}
	}
	fe.mu.Lock()
	fe.submitErr = nil
	fe.mu.Unlock()
	if r := call(t, srv, "POST", "/v2/ep/run", bearer, []byte(`{"input":1}`)); r.code != 200 {
		t.Fatalf("run once there is room: %d %s", r.code, r.body)
	}
}
