package server

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/api"
)

// liveOf writes yaml to dir/sluice.yaml and returns the state a server
// would run with it (generated worker keys kept in dir/data).
func liveOf(t *testing.T, dir, yaml string) *live {
	t.Helper()
	t.Setenv(EnvAPIKeys, "")
	dataDir := filepath.Join(dir, "data")
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(path, nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.apiKeys(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return newLive(s, k)
}

// TestReloadChanges checks the one-line-each summary of a reload.
func TestReloadChanges(t *testing.T) {
	const base = `apiKeys: [k1, k2]
endpoints:
  - id: a
    command: [./w]
    workersMax: 1
  - id: b
    workerKey: wk-b
`
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"same file", base, nil},
		{"same file, keys reordered", strings.Replace(base, "[k1, k2]", "[k2, k1, k1]", 1), nil},
		{"added and removed", `apiKeys: [k1, k2]
endpoints:
  - id: a
    command: [./w]
    workersMax: 1
  - id: c
    command: [./w]
    workersMin: 1
`, []string{
			"endpoint c added (managed, workersMin 1, workersMax 3)",
			"endpoint b removed (it accepts no new jobs; its workers drain; its jobs stay readable by id)",
		}},
		{"scaling only", strings.Replace(base, "workersMax: 1", "workersMax: 4\n    scalerType: REQUEST_COUNT", 1),
			[]string{"endpoint a changed: workersMax, scalerType"}},
		{"env and keys", `apiKeys: [k1, k3, k4]
endpoints:
  - id: a
    command: [./w]
    workersMax: 1
    env: {X: "1"}
    apiKeys: [ak]
  - id: b
    workerKey: wk-b2
    command: [./w]
pingIntervalMs: 2000
maxRetries: 5
`, []string{
			"endpoint a changed: env, apiKeys (its workers are replaced, each once it holds no job)",
			"endpoint b changed: command, workerKey (its workers are replaced, each once it holds no job)",
			"apiKeys: 2 added, 1 removed",
			"pingIntervalMs changed, but applies only after a restart",
			"maxRetries changed, but applies only after a restart",
		}},
		{"unmanaged endpoint's worker key", strings.Replace(base, "wk-b", "wk-b2", 1),
			[]string{"endpoint b changed: workerKey"}},
		{"file-wide worker key", "workerKey: shared\n" + base, []string{
			"endpoint a changed: workerKey (its workers are replaced, each once it holds no job)",
			"workerKey changed",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			prev := liveOf(t, dir, base)
			n := liveOf(t, dir, c.yaml)
			next := prev.next(n.s, n.keys)
			if got := prev.changes(next); !slices.Equal(got, c.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestReloadNext: a removed endpoint is retired with its keys, comes back
// when listed again, generated worker keys stay stable, and a changed worker
// key stays accepted as a previous key (until it is current again).
func TestReloadNext(t *testing.T) {
	dir := t.TempDir()
	const both = "endpoints:\n  - id: a\n    apiKeys: [ka]\n  - id: b\n    workerKey: wk-b\n"
	l0 := liveOf(t, dir, both)
	genA := l0.keys.Worker["a"]
	if !strings.HasPrefix(genA, "swk_") {
		t.Fatalf("generated worker key of a: %q", genA)
	}

	only := liveOf(t, dir, "endpoints:\n  - id: b\n    workerKey: wk-b2\n  - id: c\n")
	l1 := l0.next(only.s, only.keys)
	if _, ok := l1.retired["a"]; !ok || len(l1.retired) != 1 {
		t.Fatalf("retired = %v, want a", l1.retired)
	}
	if l1.keys.Worker["a"] != genA || !slices.Equal(l1.keys.EndpointClient["a"], []string{"ka"}) {
		t.Errorf("the retired endpoint lost its keys: worker %q client %v", l1.keys.Worker["a"], l1.keys.EndpointClient["a"])
	}
	if !slices.Equal(l1.keys.Previous["b"], []string{"wk-b"}) || l1.keys.Worker["b"] != "wk-b2" {
		t.Errorf("b's keys: worker %q previous %v", l1.keys.Worker["b"], l1.keys.Previous["b"])
	}
	if !strings.HasPrefix(l1.keys.Worker["c"], "swk_") || l1.keys.Worker["c"] == genA {
		t.Errorf("new endpoint c's worker key: %q", l1.keys.Worker["c"])
	}
	var ids []string
	for _, ep := range l1.engineEndpoints() {
		ids = append(ids, ep.ID)
	}
	if !slices.Equal(ids, []string{"b", "c", "a"}) {
		t.Errorf("engine endpoints %v, want b, c and the retired a", ids)
	}
	var sup []string
	for _, ep := range l1.supervised() {
		sup = append(sup, ep.ID+"="+ep.WorkerKey)
	}
	if !slices.Equal(sup, []string{"b=wk-b2", "c=" + l1.keys.Worker["c"]}) {
		t.Errorf("supervised %v", sup)
	}

	// a is back (same generated key), b's old key is current again.
	again := liveOf(t, dir, both)
	l2 := l1.next(again.s, again.keys)
	if len(l2.retired) != 1 || l2.retired["c"].ID != "c" {
		t.Errorf("retired after a came back = %v, want c", l2.retired)
	}
	if l2.keys.Worker["a"] != genA {
		t.Errorf("a's generated key changed across remove and re-add: %q, was %q", l2.keys.Worker["a"], genA)
	}
	if got := l2.keys.Previous["b"]; !slices.Equal(got, []string{"wk-b2"}) {
		t.Errorf("b's previous keys = %v, want [wk-b2] (wk-b is current again)", got)
	}
}

// TestReloadRefused: a config that does not parse, one that leaves an
// endpoint without client keys on a non-loopback address, and a worker key
// that is also a client key are refused as *api.ReloadError, and the
// running state stays; a server without --config has nothing to reload.
func TestReloadRefused(t *testing.T) {
	dir := t.TempDir()
	data, path := filepath.Join(dir, "data"), filepath.Join(dir, "sluice.yaml")
	start := liveOf(t, dir, "apiKeys: [k1]\nendpoints:\n  - id: a\n")
	cur := new(atomic.Pointer[live])
	cur.Store(start)
	rl := &reloader{opts: Options{ConfigPath: path, DataDir: data, Addr: "0.0.0.0:8080"}, cur: cur}
	for _, c := range []struct{ name, yaml, want string }{
		{"invalid", "apiKeys: [k1]\nendpoints:\n  - id: a\n    scalerType: FOO\n", path + ":4: endpoints[0].scalerType"},
		{"no client keys", "endpoints:\n  - id: a\n  - id: b\n    apiKeys: [kb]\n", "endpoint(s) [a] would have no client API key while Sluice listens on 0.0.0.0:8080"},
		{"removed keys leave a retired endpoint open", "endpoints:\n  - id: b\n    apiKeys: [kb]\n", "endpoint(s) [a] would have no client API key"},
		{"key clash", "apiKeys: [k1]\nworkerKey: k1\nendpoints:\n  - id: a\n", "worker keys and client keys must differ"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := rl.reload(t.Context())
			var re *api.ReloadError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("reload: %v, want a ReloadError containing %q", err, c.want)
			}
			if cur.Load() != start {
				t.Error("a refused reload changed the running state")
			}
		})
	}
	none := &reloader{opts: Options{DataDir: data}, cur: cur}
	if _, err := none.reload(t.Context()); !errors.Is(err, errNoConfig) {
		t.Errorf("reload without --config: %v", err)
	}
}
