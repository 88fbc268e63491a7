// Package config reads sluice.yaml: the API keys, the worker key and the
// endpoints `sluice serve` runs, with each endpoint's worker command, scaling
// rule and GPU pool.
//
// A minimal file:
//
//	apiKeys: [my-client-key]
//	workerKey: my-worker-key
//	endpoints:
//	  - id: echo
//	    command: [./echo-worker]
//	    workersMax: 2
//
// Load and Parse refuse an invalid file with messages that name the file, the
// line and the field (for example
// `sluice.yaml:12: endpoints[1].scalerType: "FOO" is not QUEUE_DELAY or REQUEST_COUNT`).
// Unknown fields are errors, so a typo is never silently ignored. Defaults are
// filled in, so every field of a returned File is ready to use.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Scaler types, as Runpod spells them.
const (
	ScalerQueueDelay   = "QUEUE_DELAY"
	ScalerRequestCount = "REQUEST_COUNT"
)

// Defaults applied by Parse.
const (
	DefaultWorkersMax         = 3
	DefaultIdleTimeout        = 5 // seconds
	DefaultScalerType         = ScalerQueueDelay
	DefaultScalerValue        = 4
	DefaultExecutionTimeoutMs = 600_000
	DefaultPingIntervalMs     = 10_000
	DefaultMaxRetries         = 2
	DefaultRetention          = 30 * time.Minute
	DefaultSyncRetention      = time.Minute
	// DefaultMaxQueue bounds an endpoint's waiting jobs: about 1 GB of
	// server memory for small jobs.
	DefaultMaxQueue = 1_000_000
)

// File is a parsed, validated, defaulted sluice.yaml.
type File struct {
	// APIKeys are the client API keys (Bearer) accepted for every endpoint.
	// The server merges SLUICE_API_KEYS into them. Default: none.
	APIKeys []string `yaml:"apiKeys"`
	// WorkerKey is the default worker key (RUNPOD_AI_API_KEY) for every
	// endpoint that sets none of its own. Default: empty, meaning the server
	// picks a random key at start (workers it starts receive it in their env).
	WorkerKey string `yaml:"workerKey"`
	// Endpoints are the queue endpoints served. At least one is required.
	Endpoints []Endpoint `yaml:"endpoints"`
	// GPUs is the shared device pool (CUDA device ids or UUIDs) for endpoints
	// with gpuCount > 0 and no gpus list of their own. No two live workers are
	// ever given the same device, across all endpoints. Default: none.
	GPUs []string `yaml:"gpus"`
	// PingIntervalMs is RUNPOD_PING_INTERVAL given to workers, in ms, at least
	// 1000. Default 10000.
	PingIntervalMs int `yaml:"pingIntervalMs"`
	// MaxRetries is how many times a job is re-queued after its worker was
	// lost. Default 2.
	MaxRetries int `yaml:"maxRetries"`
	// Retention is how long a /run result stays readable, as a Go duration
	// ("30m") or whole seconds. Default 30m.
	Retention Duration `yaml:"retention"`
	// SyncRetention is the same for /runsync. Default 1m.
	SyncRetention Duration `yaml:"syncRetention"`
	// MaxStorage bounds the embedded job store on disk, in bytes or with a
	// unit ("20GiB", "500MB"). Over it, /run and /runsync answer 429 until
	// finished jobs expire. Default 0: half of the free disk space plus what the store already holds.
	MaxStorage Size `yaml:"maxStorage"`
	// Webhooks restricts webhook targets. Default: only public addresses.
	Webhooks Webhooks `yaml:"webhooks"`
	// RateLimits limit each client key's requests per route. Default: none.
	RateLimits RateLimits `yaml:"rateLimits"`

	// Path is the file the config was read from (Parse's name). Not read from YAML.
	Path string `yaml:"-"`
}

// Endpoint is one queue endpoint.
type Endpoint struct {
	// ID is the endpoint id used in URLs (/v2/{id}/run): 1 to 64 letters,
	// digits, '-' or '_', starting with a letter or digit. Required, unique.
	ID string `yaml:"id"`
	// Command is the worker program and its arguments. Empty: Sluice starts no
	// workers for this endpoint (unless it has an image); they come from
	// elsewhere (e.g. Kubernetes) and connect to the worker API with the
	// worker key. With an image, it replaces the image's entrypoint.
	Command []string `yaml:"command"`
	// Dir is the workers' working directory. A relative dir is relative to
	// the config file's directory; after Parse it is absolute when the file
	// name was. Default: the config file's directory.
	Dir string `yaml:"dir"`
	// Env is extra environment for the workers, on top of Sluice's own
	// environment. It may not set the RUNPOD_* variables Sluice sets itself,
	// nor CUDA_VISIBLE_DEVICES when gpuCount > 0.
	Env map[string]string `yaml:"env"`
	// WorkersMin is the number of workers always running. Default 0.
	WorkersMin int `yaml:"workersMin"`
	// WorkersMax caps the number of workers. Default 3; 0 stops all workers.
	WorkersMax int `yaml:"workersMax"`
	// IdleTimeout is how many seconds a worker above WorkersMin stays idle
	// before it is stopped, 1 to 3600. Default 5.
	IdleTimeout int `yaml:"idleTimeout"`
	// ScalerType is QUEUE_DELAY or REQUEST_COUNT. Default QUEUE_DELAY.
	ScalerType string `yaml:"scalerType"`
	// ScalerValue is the QUEUE_DELAY delay in seconds or the REQUEST_COUNT
	// requests per worker, at least 1. Default 4.
	ScalerValue int `yaml:"scalerValue"`
	// ExecutionTimeoutMs is the default per-job execution timeout, 1000 ms
	// to 7 days. Default 600000 (10 min).
	ExecutionTimeoutMs int `yaml:"executionTimeoutMs"`
	// GPUCount is the number of GPUs each worker gets in CUDA_VISIBLE_DEVICES.
	// Default: 1 when the endpoint has a gpus list, else 0 (CPU workers).
	GPUCount int `yaml:"gpuCount"`
	// GPUs is this endpoint's device pool. Default: the file's gpus pool.
	// After Parse it holds the effective pool when GPUCount > 0.
	GPUs []string `yaml:"gpus"`
	// APIKeys are client API keys accepted for this endpoint only, in
	// addition to the file's apiKeys. Default: none.
	APIKeys []string `yaml:"apiKeys"`
	// WorkerKey is this endpoint's worker key. Default: the file's workerKey.
	WorkerKey string `yaml:"workerKey"`
	// MaxQueue bounds the jobs waiting in this endpoint's queue; over it
	// /run and /runsync answer 429. 1 to 100000000. Default 1000000.
	MaxQueue int `yaml:"maxQueue"`
	// StopGraceSeconds: a worker still running a job this long after the job
	// was cancelled or timed out is unhealthy and, when Sluice runs it,
	// restarted (SIGTERM, then SIGKILL this long later). Default 30.
	StopGraceSeconds int `yaml:"stopGraceSeconds"`
	// CrashLoopFailAfter: after this many workers in a row crashed before
	// they came up, the endpoint's queued jobs FAIL with the last exit
	// instead of waiting. Default 0: off.
	CrashLoopFailAfter int `yaml:"crashLoopFailAfter"`
	// RateLimits override the file's rateLimits for this endpoint, route by
	// route. Default: none.
	RateLimits RateLimits `yaml:"rateLimits"`
	// Type is QUEUE (jobs through /run and /runsync) or LB: a
	// load-balancing endpoint, whose requests to /lb/{id}/{path} go straight
	// to its workers' own HTTP servers (lb.go). Default QUEUE.
	Type string `yaml:"type"`
	// HealthPort (type LB) is "same": PORT_HEALTH equals PORT, as on Runpod
	// when PORT_HEALTH is unset; or "separate": a port of its own. Default same.
	HealthPort string `yaml:"healthPort"`
	// ColdStartTimeoutSeconds (type LB) is how long a request waits for a
	// ready worker (cold start included) before a 503, 1 to 3600.
	// Default 120, Runpod's.
	ColdStartTimeoutSeconds int `yaml:"coldStartTimeoutSeconds"`
	// RequestTimeoutSeconds (type LB) bounds a proxied request once a worker
	// has it, 1 to 7 days; then 504. Default 330 (5.5 min, Runpod's).
	RequestTimeoutSeconds int `yaml:"requestTimeoutSeconds"`
	// Host (type LB) is a host name whose requests all go to this
	// endpoint, like Runpod's ENDPOINT_ID.api.runpod.ai: http://HOST/PATH
	// is served as /lb/{id}/PATH. Lower case, unique. Default: none.
	Host string `yaml:"host"`
	// Container: image workers (image, runtime, volumes, ...; container.go).
	Container `yaml:",inline"`
}

// StopGrace is StopGraceSeconds as a duration (DefaultStopGraceSeconds
// when unset).
func (e *Endpoint) StopGrace() time.Duration {
	if e.StopGraceSeconds <= 0 {
		return DefaultStopGraceSeconds * time.Second
	}
	return time.Duration(e.StopGraceSeconds) * time.Second
}

// ExecutionTimeout is ExecutionTimeoutMs as a duration.
func (e *Endpoint) ExecutionTimeout() time.Duration {
	return time.Duration(e.ExecutionTimeoutMs) * time.Millisecond
}

// IdleTimeoutDuration is IdleTimeout as a duration.
func (e *Endpoint) IdleTimeoutDuration() time.Duration {
	return time.Duration(e.IdleTimeout) * time.Second
}

// Managed reports whether Sluice starts this endpoint's workers itself.
func (e *Endpoint) Managed() bool { return len(e.Command) > 0 || e.IsImage() }

// Endpoint returns the endpoint with the given id, or nil.
func (f *File) Endpoint(id string) *Endpoint {
	for i := range f.Endpoints {
		if f.Endpoints[i].ID == id {
			return &f.Endpoints[i]
		}
	}
	return nil
}

// PingInterval is PingIntervalMs as a duration.
func (f *File) PingInterval() time.Duration {
	return time.Duration(f.PingIntervalMs) * time.Millisecond
}

// Duration is a time.Duration read from YAML as a Go duration string ("90s",
// "30m") or a whole number of seconds.
type Duration time.Duration

// Size is a number of bytes read from YAML as a whole number or a string
// with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
// (powers of 1024).
type Size int64

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is one problem found in a config file. Parse returns several of them
// joined with errors.Join; use errors.As to get the first.
type Error struct {
	File  string // file name as given to Parse
	Line  int    // 1-based; 0 when unknown
	Field string // e.g. endpoints[1].scalerType; empty for syntax errors
	Msg   string
}

// Error formats the problem as file:line: field: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and parses the config file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and validates a config file's content. name is used in error
// messages and its directory is the base of relative endpoint dirs.
func Parse(data []byte, name string) (*File, error) {
	return ParseWith(data, name, Options{})
}

// ParseWith is Parse with options.
func ParseWith(data []byte, name string, opts Options) (*File, error) {
	var raw rawFile
	if err := decode(data, &raw); err != nil {
		return nil, yamlError(name, data, err)
	}
	v := validator{name: name, src: data, opts: opts}
	f := v.build(&raw)
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b error) int {
			return cmp.Compare(errorLine(a), errorLine(b))
		})
		return nil, errors.Join(v.errs...)
	}
	return f, nil
}

// decode unmarshals strictly. go-yaml v1.19.2 panics on some malformed
// input (found by FuzzParse, see testdata/fuzz); such input is refused.
func decode(data []byte, raw *rawFile) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML (the parser failed: %v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, raw, yaml.DisallowUnknownField())
}

// yamlError turns a go-yaml error into an *Error with the file and line.
func yamlError(name string, data []byte, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: name, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line = tk.Position.Line
			e.Field = fieldAt(data, tk.Position.Line, tk.Position.Column)
			var te *yaml.TypeError
			var ue *yaml.UnknownFieldError
			switch {
			case errors.As(err, &te):
				e.Msg = fmt.Sprintf("%s is not a valid %s", tk.Value, kindName(te.DstType))
			case errors.As(err, &ue) && e.Field != "":
				e.Msg = "unknown field (misspelt?)"
			}
		}
		return e
	}
	return &Error{File: name, Msg: err.Error()}
}

// rawFile and rawEndpoint mirror File and Endpoint with pointers where zero
// and unset differ.
type rawFile struct {
	APIKeys        []string      `yaml:"apiKeys"`
	WorkerKey      string        `yaml:"workerKey"`
	Endpoints      []rawEndpoint `yaml:"endpoints"`
	GPUs           any           `yaml:"gpus"`
	PingIntervalMs *int          `yaml:"pingIntervalMs"`
	MaxRetries     *int          `yaml:"maxRetries"`
	Retention      any           `yaml:"retention"`
	SyncRetention  any           `yaml:"syncRetention"`
	MaxStorage     any           `yaml:"maxStorage"`
	Webhooks       Webhooks      `yaml:"webhooks"`
	RateLimits     RateLimits    `yaml:"rateLimits"`
}

type rawEndpoint struct {
	ID                 string            `yaml:"id"`
	Command            []string          `yaml:"command"`
	Dir                string            `yaml:"dir"`
	Env                map[string]string `yaml:"env"`
	WorkersMin         *int              `yaml:"workersMin"`
	WorkersMax         *int              `yaml:"workersMax"`
	IdleTimeout        *int              `yaml:"idleTimeout"`
	ScalerType         *string           `yaml:"scalerType"`
	ScalerValue        *int              `yaml:"scalerValue"`
	ExecutionTimeoutMs *int              `yaml:"executionTimeoutMs"`
	GPUCount           *int              `yaml:"gpuCount"`
	GPUs               any               `yaml:"gpus"`
	APIKeys            []string          `yaml:"apiKeys"`
	WorkerKey          string            `yaml:"workerKey"`
	MaxQueue           *int              `yaml:"maxQueue"`
	StopGraceSeconds   *int              `yaml:"stopGraceSeconds"`
	CrashLoopFailAfter *int              `yaml:"crashLoopFailAfter"`
	RateLimits         RateLimits        `yaml:"rateLimits"`
	Type               *string           `yaml:"type"`
	HealthPort         *string           `yaml:"healthPort"`
	ColdStartTimeout   *int              `yaml:"coldStartTimeoutSeconds"`
	RequestTimeout     *int              `yaml:"requestTimeoutSeconds"`
	Host               string            `yaml:"host"`
	RawContainer       `yaml:",inline"`
}

// errorLine is the line of a validation error, 0 for another error.
func errorLine(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}
