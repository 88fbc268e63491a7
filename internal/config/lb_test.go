package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseLBEndpoint(t *testing.T) {
	t.Parallel()
	src := "endpoints:\n  - id: q\n  - id: web\n    type: lb\n    command: [./app]\n    healthPort: separate\n    coldStartTimeoutSeconds: 30\n"
	f, err := Parse([]byte(src), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q, web := f.Endpoint("q"), f.Endpoint("web")
	if q.Type != TypeQueue || q.IsLB() || q.ScalerType != ScalerQueueDelay || q.HealthPort != "" {
		t.Errorf("queue endpoint: type %q scaler %q healthPort %q", q.Type, q.ScalerType, q.HealthPort)
	}
	if !web.IsLB() || web.ScalerType != ScalerRequestCount || web.HealthPort != HealthPortSeparate {
		t.Errorf("LB endpoint: type %q scaler %q healthPort %q", web.Type, web.ScalerType, web.HealthPort)
	}
	if web.ColdStartTimeout() != 30*time.Second || web.RequestTimeout() != DefaultRequestTimeoutSeconds*time.Second {
		t.Errorf("timeouts: cold start %s, request %s", web.ColdStartTimeout(), web.RequestTimeout())
	}
	def, err := Parse([]byte("endpoints:\n  - id: w\n    type: LB\n    command: [./app]\n    scalerType: QUEUE_DELAY\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if w := def.Endpoint("w"); w.HealthPort != HealthPortSame || w.ScalerType != ScalerQueueDelay ||
		w.ColdStartTimeout() != DefaultColdStartTimeoutSeconds*time.Second {
		t.Errorf("defaults: healthPort %q scaler %q cold start %s", w.HealthPort, w.ScalerType, w.ColdStartTimeout())
	}
}

func TestParseLBErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"type", "endpoints:\n  - id: a\n    type: GRPC\n", `f.yaml:3: endpoints[0].type: "GRPC" is not QUEUE or LB`},
		{"no command", "endpoints:\n  - id: a\n    type: LB\n", `f.yaml:2: endpoints[0].command: an endpoint of type LB needs a command`},
		{"health port", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    healthPort: other\n", `f.yaml:5: endpoints[0].healthPort: "other" is not same or separate`},
		{"cold start", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    coldStartTimeoutSeconds: 0\n", `f.yaml:5: endpoints[0].coldStartTimeoutSeconds: 0 is not between 1 and 3600`},
		{"request timeout", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    requestTimeoutSeconds: -1\n", `f.yaml:5: endpoints[0].requestTimeoutSeconds: -1 is not between 1 and`},
		{"port env", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    env:\n      PORT: \"80\"\n", `f.yaml:6: endpoints[0].env.PORT: is set by Sluice`},
		{"host", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    host: Web.Example:80\n", `f.yaml:5: endpoints[0].host: "Web.Example:80" is not a lower-case host name`},
		{"duplicate host", "endpoints:\n  - id: a\n    type: LB\n    command: [x]\n    host: w.example\n  - id: b\n    type: LB\n    command: [x]\n    host: w.example\n",
			`f.yaml:9: endpoints[1].host: "w.example" is already the host of endpoints[0]`},
		{"LB field on a queue endpoint", "endpoints:\n  - id: a\n    coldStartTimeoutSeconds: 5\n", `f.yaml:3: endpoints[0].coldStartTimeoutSeconds: applies only to endpoints of type LB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "f.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("error = %q\nwant one with prefix %q", err, tt.want)
			}
		})
	}
}
