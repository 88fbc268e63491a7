package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Limits enforced by validation.
const (
	maxWorkers            = 1000
	maxIdleTimeout        = 3600
	minExecutionTimeoutMs = 1000
	maxExecutionTimeoutMs = 7 * 24 * 3600 * 1000
	minPingIntervalMs     = 1000
	maxPingIntervalMs     = 600_000
	maxDurationSeconds    = 7 * 24 * 3600
)

var endpointIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// reservedEnv are the variables the supervisor sets for every worker.
var reservedEnv = map[string]bool{
	"RUNPOD_POD_ID":              true,
	"RUNPOD_ENDPOINT_ID":         true,
	"RUNPOD_AI_API_KEY":          true,
	"RUNPOD_WEBHOOK_GET_JOB":     true,
	"RUNPOD_WEBHOOK_POST_OUTPUT": true,
	"RUNPOD_WEBHOOK_POST_STREAM": true,
	"RUNPOD_WEBHOOK_PING":        true,
	"RUNPOD_PING_INTERVAL":       true,
}

// validator collects errors with file lines while building a File.
type validator struct {
	name string
	src  []byte
	ast  *ast.File
	errs []error
	opts Options
	// fileGPUs is the file's raw gpus value.
	fileGPUs any
	gpus     gpuDiscovery // gpus: auto, discovered once
}

// fail records an error at field (a path like endpoints[1].scalerType).
func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.name, Line: v.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of field, or of its nearest present parent.
func (v *validator) line(field string) int {
	if v.ast == nil {
		f, err := parser.ParseBytes(v.src, 0)
		if err != nil {
			return 0
		}
		v.ast = f
	}
	for field != "" {
		if p, err := yaml.PathString("$." + field); err == nil {
			if n, err := p.FilterFile(v.ast); err == nil && n != nil {
				if tk := n.GetToken(); tk != nil && tk.Position != nil {
					return tk.Position.Line
				}
			}
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

func (v *validator) build(raw *rawFile) *File {
	v.fileGPUs = raw.GPUs
	f := &File{
		APIKeys:        raw.APIKeys,
		WorkerKey:      raw.WorkerKey,
		GPUs:           v.gpuList("gpus", raw.GPUs),
		PingIntervalMs: intOr(raw.PingIntervalMs, DefaultPingIntervalMs),
		MaxRetries:     intOr(raw.MaxRetries, DefaultMaxRetries),
		Retention:      Duration(DefaultRetention),
		SyncRetention:  Duration(DefaultSyncRetention),
		Path:           v.name,
	}
	f.Retention = v.duration("retention", raw.Retention, DefaultRetention)
	f.SyncRetention = v.duration("syncRetention", raw.SyncRetention, DefaultSyncRetention)
	f.MaxStorage = v.size("maxStorage", raw.MaxStorage)
	v.keys("apiKeys", f.APIKeys)
	v.key("workerKey", f.WorkerKey)
	f.Webhooks = v.webhooks(raw.Webhooks)
	f.RateLimits = v.rateLimits("rateLimits", raw.RateLimits)
	if f.PingIntervalMs < minPingIntervalMs || f.PingIntervalMs > maxPingIntervalMs {
		v.fail("pingIntervalMs", "%d is not between %d and %d", f.PingIntervalMs, minPingIntervalMs, maxPingIntervalMs)
	}
	if f.MaxRetries < 0 || f.MaxRetries > 100 {
		v.fail("maxRetries", "%d is not between 0 and 100", f.MaxRetries)
	}
	if f.Retention.D() < time.Second {
		v.fail("retention", "%s is shorter than 1s", f.Retention.D())
	}
	if f.SyncRetention.D() < time.Second {
		v.fail("syncRetention", "%s is shorter than 1s", f.SyncRetention.D())
	}
	if len(raw.Endpoints) == 0 {
		v.fail("endpoints", "at least one endpoint is required")
	}
	seen := map[string]int{}
	for i := range raw.Endpoints {
		ep := v.endpoint(i, &raw.Endpoints[i], f)
		if ep.ID != "" {
			if j, dup := seen[ep.ID]; dup {
				v.fail(fmt.Sprintf("endpoints[%d].id", i), "%q is already the id of endpoints[%d]", ep.ID, j)
			}
			seen[ep.ID] = i
		}
		f.Endpoints = append(f.Endpoints, ep)
	}
	v.lbHosts(f.Endpoints)
	return f
}

func (v *validator) endpoint(i int, r *rawEndpoint, f *File) Endpoint {
	at := func(field string) string { return fmt.Sprintf("endpoints[%d].%s", i, field) }
	ep := Endpoint{
		ID:                 r.ID,
		Command:            r.Command,
		Dir:                r.Dir,
		Env:                r.Env,
		WorkersMin:         intOr(r.WorkersMin, 0),
		WorkersMax:         intOr(r.WorkersMax, DefaultWorkersMax),
		IdleTimeout:        intOr(r.IdleTimeout, DefaultIdleTimeout),
		ScalerType:         DefaultScalerType,
		ScalerValue:        intOr(r.ScalerValue, DefaultScalerValue),
		ExecutionTimeoutMs: intOr(r.ExecutionTimeoutMs, DefaultExecutionTimeoutMs),
		GPUs:               v.gpuList(at("gpus"), r.GPUs),
		APIKeys:            r.APIKeys,
		WorkerKey:          r.WorkerKey,
		MaxQueue:           intOr(r.MaxQueue, DefaultMaxQueue),
	}
	if r.ScalerType != nil {
		ep.ScalerType = *r.ScalerType
	}
	switch {
	case ep.ID == "":
		v.fail(at("id"), "an endpoint id is required")
	case !endpointIDRe.MatchString(ep.ID):
		v.fail(at("id"), "%q must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", ep.ID)
	}
	if len(ep.Command) > 0 && strings.TrimSpace(ep.Command[0]) == "" {
		v.fail(at("command"), "the program name (first element) is empty")
	}
	for j, a := range ep.Command {
		if strings.ContainsRune(a, 0) {
			v.fail(fmt.Sprintf("endpoints[%d].command[%d]", i, j), "contains a NUL byte")
		}
	}
	// Dir: relative to the config file's directory.
	base := filepath.Dir(v.name)
	if strings.ContainsRune(ep.Dir, 0) {
		v.fail(at("dir"), "contains a NUL byte")
	}
	switch {
	case ep.Dir == "":
		ep.Dir = base
	case !filepath.IsAbs(ep.Dir):
		ep.Dir = filepath.Join(base, ep.Dir)
	}
	if ep.WorkersMin < 0 || ep.WorkersMin > maxWorkers {
		v.fail(at("workersMin"), "%d is not between 0 and %d", ep.WorkersMin, maxWorkers)
	}
	if ep.WorkersMax < 0 || ep.WorkersMax > maxWorkers {
		v.fail(at("workersMax"), "%d is not between 0 and %d", ep.WorkersMax, maxWorkers)
	}
	if ep.WorkersMin > ep.WorkersMax && ep.WorkersMax >= 0 {
		v.fail(at("workersMin"), "%d is more than workersMax (%d)", ep.WorkersMin, ep.WorkersMax)
	}
	if ep.IdleTimeout < 1 || ep.IdleTimeout > maxIdleTimeout {
		v.fail(at("idleTimeout"), "%d is not between 1 and %d seconds", ep.IdleTimeout, maxIdleTimeout)
	}
	if ep.ScalerType != ScalerQueueDelay && ep.ScalerType != ScalerRequestCount {
		v.fail(at("scalerType"), "%q is not %s or %s", ep.ScalerType, ScalerQueueDelay, ScalerRequestCount)
	}
	if ep.ScalerValue < 1 || ep.ScalerValue > 1_000_000 {
		v.fail(at("scalerValue"), "%d is not between 1 and 1000000", ep.ScalerValue)
	}
	if ep.ExecutionTimeoutMs < minExecutionTimeoutMs || ep.ExecutionTimeoutMs > maxExecutionTimeoutMs {
		v.fail(at("executionTimeoutMs"), "%d is not between %d (1 s) and %d (7 days)", ep.ExecutionTimeoutMs, minExecutionTimeoutMs, maxExecutionTimeoutMs)
	}
	if ep.MaxQueue < 1 || ep.MaxQueue > 100_000_000 {
		v.fail(at("maxQueue"), "%d is not between 1 and 100000000", ep.MaxQueue)
	}
	v.keys(at("apiKeys"), ep.APIKeys)
	v.key(at("workerKey"), ep.WorkerKey)
	if ep.WorkerKey == "" {
		ep.WorkerKey = f.WorkerKey
	}
	v.safety(at, r, &ep)
	v.container(at, r, &ep)
	v.lb(at, r, &ep) // after container: an LB endpoint may run an image

	// GPUs: endpoint pool, else the shared pool.
	switch {
	case r.GPUCount != nil:
		ep.GPUCount = *r.GPUCount
	case len(ep.GPUs) > 0 || isAuto(r.GPUs):
		ep.GPUCount = 1
	}
	pool, poolField, auto := ep.GPUs, at("gpus"), isAuto(r.GPUs)
	if len(pool) == 0 && !auto {
		pool, poolField, auto = f.GPUs, "gpus", isAuto(v.fileGPUs)
	}
	switch {
	case ep.GPUCount > 0 && len(pool) == 0 && auto:
		v.fail(at("gpuCount"), "%d GPUs per worker, but gpus: auto found no GPU on this machine: %v", ep.GPUCount, v.gpus.err)
	case ep.GPUCount < 0:
		v.fail(at("gpuCount"), "%d is negative", ep.GPUCount)
	case ep.GPUCount == 0 && len(ep.GPUs) > 0:
		v.fail(at("gpuCount"), "is 0 but the endpoint lists gpus")
	case ep.GPUCount > 0 && len(pool) == 0:
		v.fail(at("gpuCount"), "%d GPUs per worker but neither the endpoint nor the file lists gpus", ep.GPUCount)
	case ep.GPUCount > 0 && ep.GPUCount*ep.WorkersMax > len(pool):
		v.fail(at("gpuCount"), "%d GPUs per worker × workersMax %d = %d, more than the %d devices in %s",
			ep.GPUCount, ep.WorkersMax, ep.GPUCount*ep.WorkersMax, len(pool), poolField)
	}
	if ep.GPUCount > 0 {
		ep.GPUs = pool
	}
	for k, val := range ep.Env {
		field := at("env." + k)
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			v.fail(at("env"), "%q is not a valid variable name", k)
		case reservedEnv[k]:
			v.fail(field, "is set by Sluice for every worker and cannot be overridden")
		case (k == "CUDA_VISIBLE_DEVICES" || k == "NVIDIA_VISIBLE_DEVICES" && ep.IsImage()) && ep.GPUCount > 0:
			v.fail(field, "is set from gpus when gpuCount > 0")
		case strings.ContainsRune(val, 0):
			v.fail(field, "contains a NUL byte")
		}
	}
	return ep
}

func (v *validator) keys(field string, keys []string) {
	for i, k := range keys {
		v.key(fmt.Sprintf("%s[%d]", field, i), k)
		if k == "" {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "an API key may not be empty")
		}
	}
}

func (v *validator) key(field, k string) {
	if strings.ContainsAny(k, " \t\r\n\x00") {
		v.fail(field, "a key may not contain spaces or control characters")
	}
}

func (v *validator) devices(field string, ids []string) {
	seen := map[string]bool{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case strings.TrimSpace(id) == "" || strings.ContainsAny(id, ", \t\r\n\x00"):
			v.fail(f, "%q is not a device id (no empty ids, commas or spaces)", id)
		case seen[id]:
			v.fail(f, "%q is listed twice", id)
		}
		seen[id] = true
	}
}

// duration reads a Go duration string or whole seconds.
func (v *validator) duration(field string, x any, def time.Duration) Duration {
	switch d := x.(type) {
	case nil:
		return Duration(def)
	case uint64:
		if d <= uint64(maxDurationSeconds) {
			return Duration(time.Duration(d) * time.Second)
		}
	case int64:
		if d >= 0 && d <= maxDurationSeconds {
			return Duration(time.Duration(d) * time.Second)
		}
	case string:
		if p, err := time.ParseDuration(d); err == nil {
			return Duration(p)
		}
	}
	v.fail(field, "%v is not a duration like 90s or 30m (or whole seconds up to 7 days)", x)
	return Duration(def)
}

// sizeUnits are the units a Size may carry, longest first.
var sizeUnits = []struct {
	name string
	mult int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// size reads a byte size (see Size); nil is 0 (the default).
func (v *validator) size(field string, x any) Size {
	switch d := x.(type) {
	case nil:
		return 0
	case uint64:
		if d <= 1<<50 {
			return Size(d)
		}
	case int64:
		if d >= 0 && d <= 1<<50 {
			return Size(d)
		}
	case string:
		if n, ok := ParseSize(d); ok {
			return Size(n)
		}
	}
	v.fail(field, "%v is not a size like 20GiB or 500MB (or a number of bytes)", x)
	return 0
}

// ParseSize reads a size with an optional unit (see Size), e.g. "20GiB".
func ParseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.name); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<50 {
		return 0, false
	}
	return int64(n * float64(mult)), true
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
