package deploy

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/wire"
)

// composeService is the part of a docker-compose service the test reads.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Volumes     []string          `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   []string          `yaml:"depends_on"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// mounts maps a service's mount targets to their sources.
func (s composeService) mounts() map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			m[parts[1]] = parts[0]
		}
	}
	return m
}

// serveFlags reads `serve --flag value ...` into a map.
func serveFlags(t *testing.T, name string, cmd []string) map[string]string {
	t.Helper()
	if len(cmd) == 0 || cmd[0] != "serve" || len(cmd)%2 != 1 {
		t.Fatalf("%s: command %q is not serve with --flag value pairs", name, cmd)
	}
	f := map[string]string{}
	for i := 1; i < len(cmd); i += 2 {
		f[cmd[i]] = cmd[i+1]
	}
	return f
}

// TestComposeWiring parses deploy/compose: the NATS commands with
// nats-server's own flag parser (a JetStream cluster of every NATS service,
// each routing to all), the Sluice replicas (--nats-url naming every NATS
// service, one shared config, a data volume each), the config with
// Sluice's loader, and the worker's environment against the one `sluice
// worker-env` prints.
func TestComposeWiring(t *testing.T) {
	raw, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	var natsNames, sluiceNames []string
	for name := range cf.Services {
		switch {
		case strings.HasPrefix(name, "nats-"):
			natsNames = append(natsNames, name)
		case strings.HasPrefix(name, "sluice-"):
			sluiceNames = append(sluiceNames, name)
		}
	}
	sort.Strings(natsNames)
	sort.Strings(sluiceNames)
	if len(natsNames) != 3 || len(sluiceNames) != 2 {
		t.Fatalf("services: nats %v, sluice %v; want 3 and 2", natsNames, sluiceNames)
	}

	// NATS: one cluster, JetStream on a volume, every node routes to all.
	var clientURLs []string
	for _, name := range natsNames {
		svc := cf.Services[name]
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		opts, err := natsserver.ConfigureOptions(fs, svc.Command, func() {}, func() {}, func() {})
		if err != nil {
			t.Fatalf("%s: nats-server rejects its command %q: %v", name, svc.Command, err)
		}
		if !opts.JetStream || opts.ServerName != name || opts.Cluster.Name != "sluice" {
			t.Errorf("%s: jetstream %v, server name %q, cluster %q", name, opts.JetStream, opts.ServerName, opts.Cluster.Name)
		}
		if vol := svc.mounts()[opts.StoreDir]; vol != name || !hasKey(cf.Volumes, vol) {
			t.Errorf("%s: store dir %s is not on its own named volume (mounts %v)", name, opts.StoreDir, svc.mounts())
		}
		var routes []string
		for _, u := range opts.Routes {
			routes = append(routes, u.Host)
		}
		var want []string
		for _, n := range natsNames {
			want = append(want, net.JoinHostPort(n, fmt.Sprint(opts.Cluster.Port)))
		}
		if sort.Strings(routes); !slices.Equal(routes, want) {
			t.Errorf("%s: routes %v, want %v", name, routes, want)
		}
		port := opts.Port
		if port == 0 {
			port = natsserver.DEFAULT_PORT
		}
		clientURLs = append(clientURLs, "nats://"+net.JoinHostPort(name, fmt.Sprint(port)))
	}

	// Sluice replicas: the whole NATS cluster, one config, their own data.
	dataVolumes := map[string]bool{}
	hostPorts := map[string]bool{}
	for _, name := range sluiceNames {
		svc := cf.Services[name]
		f := serveFlags(t, name, svc.Command)
		if got := strings.Split(f["--nats-url"], ","); !slices.Equal(got, clientURLs) {
			t.Errorf("%s: --nats-url %v, want %v", name, got, clientURLs)
		}
		if src := svc.mounts()[f["--config"]]; src != "./sluice.yaml" {
			t.Errorf("%s: --config %s is mounted from %q, want ./sluice.yaml", name, f["--config"], src)
		}
		vol := svc.mounts()[f["--data-dir"]]
		if !hasKey(cf.Volumes, vol) || dataVolumes[vol] {
			t.Errorf("%s: --data-dir %s on %q: not a named volume of its own", name, f["--data-dir"], vol)
		}
		dataVolumes[vol] = true
		if !slices.Equal(sortedCopy(svc.DependsOn), natsNames) {
			t.Errorf("%s: depends_on %v, want %v", name, svc.DependsOn, natsNames)
		}
		if svc.Environment[server.EnvAPIKeys] == "" {
			t.Errorf("%s: no %s (a replica listening on 0.0.0.0 needs a client key)", name, server.EnvAPIKeys)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") || !strings.HasSuffix(p, ":"+portOf(f["--addr"])) || hostPorts[p] {
				t.Errorf("%s: port %q: want 127.0.0.1:HOST:%s, one host port per replica", name, p, portOf(f["--addr"]))
			}
			hostPorts[p] = true
		}
	}

	// The shared config and the worker's environment.
	cfg, err := config.Load("compose/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WorkerKey == "" {
		t.Error("compose/sluice.yaml sets no workerKey: replicas would generate different ones")
	}
	w, ok := cf.Services["echo-worker"]
	if !ok {
		t.Fatal("no echo-worker service")
	}
	target := strings.TrimPrefix(strings.Split(w.Environment["RUNPOD_WEBHOOK_PING"], "/v2/")[0], "http://")
	host, port, _ := net.SplitHostPort(target)
	if !slices.Contains(sluiceNames, host) || !slices.Contains(w.DependsOn, host) {
		t.Errorf("echo-worker talks to %q, not a Sluice replica it depends on", host)
	}
	want := wire.WorkerEnv{BaseURL: "http://" + net.JoinHostPort(host, port), Endpoint: "echo", Key: cfg.WorkerKey, WorkerID: w.Environment["RUNPOD_POD_ID"], PingIntervalMs: cfg.PingInterval().Milliseconds()}.Environ()
	var got []string
	for k, v := range w.Environment {
		got = append(got, k+"="+strings.ReplaceAll(v, "$$", "$")) // $$ is compose's literal $
	}
	if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("echo-worker environment:\n%s\nwant (sluice worker-env):\n%s", strings.Join(sortedCopy(got), "\n"), strings.Join(sortedCopy(want), "\n"))
	}
	if cfg.Endpoint("echo") == nil || !slices.Contains(w.Profiles, "worker") {
		t.Errorf("echo-worker: endpoint echo configured %v, profiles %v", cfg.Endpoint("echo") != nil, w.Profiles)
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
