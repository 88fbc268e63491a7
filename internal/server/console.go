package server

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/engine"
)

// consoleSettings are an endpoint's scaler settings as its console page
// shows them (no keys, command or environment).
type consoleSettings struct {
	Managed            bool     `json:"managed"`
	WorkersMin         int      `json:"workersMin"`
	WorkersMax         int      `json:"workersMax"`
	IdleTimeout        int      `json:"idleTimeout"`
	ScalerType         string   `json:"scalerType"`
	ScalerValue        int      `json:"scalerValue"`
	ExecutionTimeoutMs int64    `json:"executionTimeoutMs"`
	GPUCount           int      `json:"gpuCount"`
	GPUs               []string `json:"gpus,omitempty"`
	MaxQueue           int      `json:"maxQueue"`
	StopGraceSeconds   int      `json:"stopGraceSeconds"`
	CrashLoopFailAfter int      `json:"crashLoopFailAfter"`
}

// newConsole is the web console in front of the API handler h (api is the
// same API without request metrics, for the console's own calls).
func newConsole(cur *atomic.Pointer[live], h, api http.Handler, series *console.Series, opts Options) *console.Console {
	return console.New(console.Config{
		API:      h,
		Internal: api,
		Series:   series,
		NeedsKey: func() bool {
			k := cur.Load().keys
			if len(k.Client) > 0 {
				return true
			}
			for _, keys := range k.EndpointClient {
				if len(keys) > 0 {
					return true
				}
			}
			return false
		},
		Secret: func() []byte { return sessionSecret(cur.Load().keys) },
		Settings: func(endpoint string) (any, bool) {
			for _, ep := range cur.Load().s.file.Endpoints {
				if ep.ID == endpoint {
					return consoleSettings{
						Managed: ep.Managed(), WorkersMin: ep.WorkersMin, WorkersMax: ep.WorkersMax,
						IdleTimeout: ep.IdleTimeout, ScalerType: ep.ScalerType, ScalerValue: ep.ScalerValue,
						ExecutionTimeoutMs: ep.ExecutionTimeout().Milliseconds(), GPUCount: ep.GPUCount, GPUs: ep.GPUs,
						MaxQueue: ep.MaxQueue, StopGraceSeconds: int(ep.StopGrace().Seconds()), CrashLoopFailAfter: ep.CrashLoopFailAfter,
					}, true
				}
			}
			return nil, false
		},
		Logger: opts.Logger,
	})
}

// sessionSecret seals the console's login cookies: all the client keys of
// the config (file-wide and per endpoint), so that replicas on one config
// read each other's logins, a key that opens one endpoint does not give it
// away, and a change of keys ends the logins. Without keys no login is
// needed and the secret is empty.
func sessionSecret(k api.Keys) []byte {
	all := slices.Clone(k.Client)
	for ep, keys := range k.EndpointClient {
		for _, key := range keys {
			all = append(all, ep+"\x00"+key)
		}
	}
	slices.Sort(all)
	return []byte(strings.Join(all, "\x00\x00"))
}

// observers tells each of obs (nil ones skipped) what the engine does.
type observers []engine.Observer

func (o observers) JobFinished(j *engine.Job) {
	for _, x := range o {
		x.JobFinished(j)
	}
}

func (o observers) QueuedEnded(endpoint string, status engine.Status, n int) {
	for _, x := range o {
		x.QueuedEnded(endpoint, status, n)
	}
}
