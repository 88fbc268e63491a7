package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// Endpoint types.
const (
	TypeQueue = "QUEUE"
	TypeLB    = "LB"
)

// Health port modes of a load-balancing endpoint.
const (
	HealthPortSame     = "same"
	HealthPortSeparate = "separate"
)

// Defaults of load-balancing endpoints.
const (
	DefaultColdStartTimeoutSeconds = 120 // Runpod: no worker within 2 min
	DefaultRequestTimeoutSeconds   = 330 // Runpod: 5.5 min of processing
	maxColdStartTimeoutSeconds     = 3600
)

// EnvPort and EnvPortHealth are the variables a load-balancing worker
// listens on, set by Sluice for each worker.
const (
	EnvPort       = "PORT"
	EnvPortHealth = "PORT_HEALTH"
)

// IsLB reports whether e is a load-balancing endpoint.
func (e *Endpoint) IsLB() bool { return e.Type == TypeLB }

// ColdStartTimeout is ColdStartTimeoutSeconds as a duration.
func (e *Endpoint) ColdStartTimeout() time.Duration {
	return time.Duration(e.ColdStartTimeoutSeconds) * time.Second
}

// RequestTimeout is RequestTimeoutSeconds as a duration.
func (e *Endpoint) RequestTimeout() time.Duration {
	return time.Duration(e.RequestTimeoutSeconds) * time.Second
}

// lb reads and checks the type and the load-balancing settings.
func (v *validator) lb(at func(string) string, r *rawEndpoint, ep *Endpoint) {
	ep.Type = TypeQueue
	if r.Type != nil {
		ep.Type = strings.ToUpper(*r.Type)
	}
	if ep.Type != TypeQueue && ep.Type != TypeLB {
		v.fail(at("type"), "%q is not %s or %s", *r.Type, TypeQueue, TypeLB)
		return
	}
	lbOnly := func(field string, set bool) {
		if set && ep.Type != TypeLB {
			v.fail(at(field), "applies only to endpoints of type LB")
		}
	}
	lbOnly("healthPort", r.HealthPort != nil)
	lbOnly("coldStartTimeoutSeconds", r.ColdStartTimeout != nil)
	lbOnly("requestTimeoutSeconds", r.RequestTimeout != nil)
	lbOnly("host", r.Host != "")
	if ep.Type != TypeLB {
		return
	}
	if r.ScalerType == nil {
		ep.ScalerType = ScalerRequestCount
	}
	ep.HealthPort = HealthPortSame
	if r.HealthPort != nil {
		ep.HealthPort = *r.HealthPort
	}
	if ep.HealthPort != HealthPortSame && ep.HealthPort != HealthPortSeparate {
		v.fail(at("healthPort"), "%q is not %s or %s", ep.HealthPort, HealthPortSame, HealthPortSeparate)
	}
	ep.ColdStartTimeoutSeconds = intOr(r.ColdStartTimeout, DefaultColdStartTimeoutSeconds)
	if ep.ColdStartTimeoutSeconds < 1 || ep.ColdStartTimeoutSeconds > maxColdStartTimeoutSeconds {
		v.fail(at("coldStartTimeoutSeconds"), "%d is not between 1 and %d", ep.ColdStartTimeoutSeconds, maxColdStartTimeoutSeconds)
	}
	ep.RequestTimeoutSeconds = intOr(r.RequestTimeout, DefaultRequestTimeoutSeconds)
	if ep.RequestTimeoutSeconds < 1 || ep.RequestTimeoutSeconds > maxDurationSeconds {
		v.fail(at("requestTimeoutSeconds"), "%d is not between 1 and %d (7 days)", ep.RequestTimeoutSeconds, maxDurationSeconds)
	}
	ep.Host = r.Host
	if ep.Host != "" && !hostRe.MatchString(ep.Host) {
		v.fail(at("host"), "%q is not a lower-case host name (letters, digits, '-' and dots; no port)", ep.Host)
	}
	if !ep.Managed() {
		v.fail(at("command"), "an endpoint of type LB needs a command or an image: Sluice starts its workers and proxies requests to them")
	}
	for _, k := range []string{EnvPort, EnvPortHealth} {
		if _, set := ep.Env[k]; set {
			v.fail(at("env."+k), "is set by Sluice for every worker of an LB endpoint (a free loopback port each)")
		}
	}
}

// lbHosts checks that no two endpoints share a host name.
func (v *validator) lbHosts(eps []Endpoint) {
	seen := map[string]int{}
	for i, ep := range eps {
		if ep.Host == "" {
			continue
		}
		if j, dup := seen[ep.Host]; dup {
			v.fail(fmt.Sprintf("endpoints[%d].host", i), "%q is already the host of endpoints[%d]", ep.Host, j)
		}
		seen[ep.Host] = i
	}
}
