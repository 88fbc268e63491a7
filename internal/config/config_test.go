package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte("endpoints:\n  - id: echo\n    command: [./worker, -v]\n"), "/etc/sluice/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Endpoint{
		ID:                 "echo",
		Command:            []string{"./worker", "-v"},
		Dir:                "/etc/sluice",
		WorkersMin:         0,
		WorkersMax:         3,
		IdleTimeout:        5,
		ScalerType:         "QUEUE_DELAY",
		ScalerValue:        4,
		ExecutionTimeoutMs: 600000,
		MaxQueue:           DefaultMaxQueue,
		StopGraceSeconds:   30,
		Type:               TypeQueue,
	}
	if !reflect.DeepEqual(f.Endpoints[0], want) {
		t.Errorf("endpoint = %+v\nwant %+v", f.Endpoints[0], want)
	}
	if f.PingIntervalMs != 10000 || f.MaxRetries != 2 || f.Retention.D() != 30*time.Minute || f.SyncRetention.D() != time.Minute {
		t.Errorf("file defaults = %+v", f)
	}
	if f.Path != "/etc/sluice/sluice.yaml" || f.Endpoint("echo") == nil || f.Endpoint("nope") != nil {
		t.Errorf("Path/Endpoint lookup wrong: %+v", f)
	}
	if !f.Endpoints[0].Managed() || f.Endpoints[0].ExecutionTimeout() != 10*time.Minute || f.Endpoints[0].IdleTimeoutDuration() != 5*time.Second {
		t.Errorf("helpers wrong")
	}
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	src := `
apiKeys: [k1, k2]
workerKey: wk
gpus: ["0", "1", "2", "3"]
pingIntervalMs: 2000
maxRetries: 0
retention: 90s
syncRetention: 30
endpoints:
  - id: gpu-ep
    command: [python, handler.py]
    dir: workers/gpu
    env: {HF_HOME: /cache, CUDA_LAUNCH_BLOCKING: "1"}
    workersMin: 1
    workersMax: 2
    idleTimeout: 60
    scalerType: REQUEST_COUNT
    scalerValue: 1
    executionTimeoutMs: 5000
    gpuCount: 2
    apiKeys: [only-this]
  - id: own_pool
    command: [w]
    dir: /abs
    workersMax: 2
    gpus: [GPU-a, GPU-b]
    workerKey: other
  - id: external
    workersMax: 0
`
	f, err := Parse([]byte(src), "conf/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.APIKeys, []string{"k1", "k2"}) || f.WorkerKey != "wk" || f.PingIntervalMs != 2000 ||
		f.MaxRetries != 0 || f.Retention.D() != 90*time.Second || f.SyncRetention.D() != 30*time.Second {
		t.Errorf("file = %+v", f)
	}
	if f.PingInterval() != 2*time.Second {
		t.Errorf("PingInterval = %v", f.PingInterval())
	}
	g := f.Endpoints[0]
	if g.Dir != filepath.Join("conf", "workers/gpu") || g.GPUCount != 2 || !reflect.DeepEqual(g.GPUs, []string{"0", "1", "2", "3"}) ||
		g.WorkerKey != "wk" || g.ScalerType != ScalerRequestCount || g.ScalerValue != 1 || g.WorkersMin != 1 || g.IdleTimeout != 60 ||
		g.ExecutionTimeoutMs != 5000 || g.Env["HF_HOME"] != "/cache" || !reflect.DeepEqual(g.APIKeys, []string{"only-this"}) {
		t.Errorf("gpu-ep = %+v", g)
	}
	o := f.Endpoints[1]
	if o.Dir != "/abs" || o.GPUCount != 1 || !reflect.DeepEqual(o.GPUs, []string{"GPU-a", "GPU-b"}) || o.WorkerKey != "other" {
		t.Errorf("own_pool = %+v", o)
	}
	x := f.Endpoints[2]
	if x.Managed() || x.WorkersMax != 0 || x.GPUCount != 0 || x.GPUs != nil {
		t.Errorf("external = %+v", x)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string // each must appear, in this order, one per line
	}{
		{"empty", "", []string{`f.yaml: endpoints: at least one endpoint is required`}},
		{"syntax", "endpoints: [\n", []string{`f.yaml:1: `}},
		{"unknown top field", "endpoint:\n  - id: a\n", []string{`f.yaml:1: endpoint: unknown field`}},
		{"unknown endpoint field", "endpoints:\n  - id: a\n    comand: [x]\n", []string{`f.yaml:3: endpoints[0].comand: unknown field`}},
		{"wrong type", "endpoints:\n  - id: a\n    workersMax: lots\n", []string{`f.yaml:3: endpoints[0].workersMax: lots is not a valid integer`}},
		{"scaler type", "endpoints:\n  - id: a\n  - id: b\n    scalerType: FOO\n",
			[]string{`f.yaml:4: endpoints[1].scalerType: "FOO" is not QUEUE_DELAY or REQUEST_COUNT`}},
		{"missing id", "endpoints:\n  - command: [x]\n", []string{`f.yaml:2: endpoints[0].id: an endpoint id is required`}},
		{"bad id", "endpoints:\n  - id: a.b\n", []string{`f.yaml:2: endpoints[0].id: "a.b" must be`}},
		{"duplicate id", "endpoints:\n  - id: a\n  - id: a\n", []string{`f.yaml:3: endpoints[1].id: "a" is already the id of endpoints[0]`}},
		{"min over max", "endpoints:\n  - id: a\n    workersMin: 4\n", []string{`f.yaml:3: endpoints[0].workersMin: 4 is more than workersMax (3)`}},
		{"min over explicit max", "endpoints:\n  - id: a\n    workersMax: 1\n    workersMin: 2\n", []string{`f.yaml:4: endpoints[0].workersMin: 2 is more than workersMax (1)`}},
		{"negative max", "endpoints:\n  - id: a\n    workersMax: -1\n", []string{`f.yaml:3: endpoints[0].workersMax: -1 is not between 0 and 1000`}},
		{"idle timeout", "endpoints:\n  - id: a\n    idleTimeout: 0\n", []string{`f.yaml:3: endpoints[0].idleTimeout: 0 is not between 1 and 3600 seconds`}},
		{"scaler value", "endpoints:\n  - id: a\n    scalerValue: 0\n", []string{`f.yaml:3: endpoints[0].scalerValue: 0 is not between`}},
		{"exec timeout", "endpoints:\n  - id: a\n    executionTimeoutMs: 10\n", []string{`f.yaml:3: endpoints[0].executionTimeoutMs: 10 is not between`}},
		{"gpus too few", "gpus: [\"0\", \"1\"]\nendpoints:\n  - id: a\n    gpuCount: 1\n",
			[]string{`f.yaml:4: endpoints[0].gpuCount: 1 GPUs per worker × workersMax 3 = 3, more than the 2 devices in gpus`}},
		{"gpus none", "endpoints:\n  - id: a\n    gpuCount: 1\n    workersMax: 1\n", []string{`f.yaml:3: endpoints[0].gpuCount: 1 GPUs per worker but neither`}},
		{"gpus but zero count", "endpoints:\n  - id: a\n    gpuCount: 0\n    gpus: [\"0\"]\n", []string{`f.yaml:3: endpoints[0].gpuCount: is 0 but the endpoint lists gpus`}},
		{"gpu duplicate", "endpoints:\n  - id: a\n    workersMax: 1\n    gpus: [\"0\", \"0\"]\n", []string{`f.yaml:4: endpoints[0].gpus[1]: "0" is listed twice`}},
		{"gpu comma", "gpus: [\"0,1\"]\nendpoints:\n  - id: a\n", []string{`f.yaml:1: gpus[0]: "0,1" is not a device id`}},
		{"reserved env", "endpoints:\n  - id: a\n    env:\n      RUNPOD_AI_API_KEY: x\n",
			[]string{`f.yaml:4: endpoints[0].env.RUNPOD_AI_API_KEY: is set by Sluice`}},
		{"cuda env with gpus", "endpoints:\n  - id: a\n    workersMax: 1\n    gpus: [\"0\"]\n    env:\n      CUDA_VISIBLE_DEVICES: \"1\"\n",
			[]string{`f.yaml:6: endpoints[0].env.CUDA_VISIBLE_DEVICES: is set from gpus`}},
		{"empty program", "endpoints:\n  - id: a\n    command: [\"\"]\n", []string{`f.yaml:3: endpoints[0].command: the program name`}},
		{"empty api key", "apiKeys: [\"\"]\nendpoints:\n  - id: a\n", []string{`f.yaml:1: apiKeys[0]: an API key may not be empty`}},
		{"key with space", "workerKey: \"a b\"\nendpoints:\n  - id: a\n", []string{`f.yaml:1: workerKey: a key may not contain spaces`}},
		{"ping interval", "pingIntervalMs: 500\nendpoints:\n  - id: a\n", []string{`f.yaml:1: pingIntervalMs: 500 is not between 1000 and 600000`}},
		{"retention", "retention: soon\nendpoints:\n  - id: a\n", []string{`f.yaml:1: retention: soon is not a duration`}},
		{"maxStorage", "maxStorage: lots\nendpoints:\n  - id: a\n", []string{`f.yaml:1: maxStorage: lots is not a size like 20GiB`}},
		{"maxQueue", "endpoints:\n  - id: a\n    maxQueue: 0\n", []string{`f.yaml:3: endpoints[0].maxQueue: 0 is not between 1 and 100000000`}},
		{"retention short", "syncRetention: 10ms\nendpoints:\n  - id: a\n", []string{`f.yaml:1: syncRetention: 10ms is shorter than 1s`}},
		{"max retries", "maxRetries: -1\nendpoints:\n  - id: a\n", []string{`f.yaml:1: maxRetries: -1 is not between 0 and 100`}},
		{"duplicate key", "endpoints:\n  - id: a\n    workersMax: 1\n    workersMax: 2\n", []string{`f.yaml:4: mapping key "workersMax" already defined`}},
		{"endpoints not a list", "endpoints: {id: a}\n", []string{`f.yaml:1: `}},
		{"command not a list", "endpoints:\n  - id: a\n    command: ./w\n", []string{`f.yaml:3: endpoints[0].command: `}},
		{"several, sorted by line", "endpoints:\n  - id: a\n    scalerType: X\n  - id: a\n    idleTimeout: 0\n", []string{
			`f.yaml:3: endpoints[0].scalerType`, `f.yaml:4: endpoints[1].id`, `f.yaml:5: endpoints[1].idleTimeout`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.src), "f.yaml")
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if f != nil {
				t.Errorf("returned a File with an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q\nwant prefix %q", i, lines[i], w)
				}
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "f.yaml" {
				t.Errorf("errors.As(*Error) failed or wrong file: %#v", ce)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte("endpoints:\n  - id: a\n    dir: sub\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Endpoints[0].Dir != filepath.Join(dir, "sub") {
		t.Errorf("dir = %q", f.Endpoints[0].Dir)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("endpoints:\n  - id: a\n    command: [x]\n"))
	f.Add([]byte("gpus: [\"0\"]\nendpoints:\n  - id: a\n    gpuCount: 1\n    workersMax: 1\n    env: {A: b}\n"))
	f.Add([]byte("retention: 5m\nendpoints: [{id: a, scalerType: FOO}]\n"))
	f.Add([]byte("endpoints: [\n"))
	f.Add([]byte("endpoints:\n  - id: a\n    image: w\n    volumes: [./a:/b:ro]\n    pull: never\n    shmSize: 1GiB\n    ports: [80]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if cf != nil {
				t.Fatal("File returned with an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			return
		}
		// Every accepted file satisfies the invariants the supervisor relies on.
		ids := map[string]bool{}
		for _, ep := range cf.Endpoints {
			if ep.ID == "" || ids[ep.ID] {
				t.Fatalf("bad or duplicate id %q", ep.ID)
			}
			ids[ep.ID] = true
			if ep.WorkersMin < 0 || ep.WorkersMin > ep.WorkersMax || ep.ScalerValue < 1 || ep.IdleTimeout < 1 {
				t.Fatalf("invalid endpoint accepted: %+v", ep)
			}
			if ep.ScalerType != ScalerQueueDelay && ep.ScalerType != ScalerRequestCount {
				t.Fatalf("scaler type %q accepted", ep.ScalerType)
			}
			if ep.GPUCount*ep.WorkersMax > len(ep.GPUs) {
				t.Fatalf("gpu pool too small accepted: %+v", ep)
			}
		}
	})
}

// TestSizes reads maxStorage and maxQueue in their accepted spellings.
func TestSizes(t *testing.T) {
	for in, want := range map[string]Size{"20GiB": 20 << 30, "500MB": 500e6, "1048576": 1 << 20, "1.5KiB": 1536, "0": 0} {
		f, err := Parse([]byte("maxStorage: "+in+"\nendpoints:\n  - id: a\n    maxQueue: 50\n"), "f.yaml")
		if err != nil {
			t.Fatalf("maxStorage %s: %v", in, err)
		}
		if f.MaxStorage != want || f.Endpoints[0].MaxQueue != 50 {
			t.Errorf("maxStorage %s = %d (maxQueue %d), want %d", in, f.MaxStorage, f.Endpoints[0].MaxQueue, want)
		}
	}
}
