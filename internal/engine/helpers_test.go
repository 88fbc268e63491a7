package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Main(m)
}

// backend is where the engines of one test keep their data: a fresh embedded
// data directory, or a shared 3-node cluster.
type backend struct {
	name string
	// open starts one more engine on this backend with cfg (DataDir/NATSURL filled in).
	open func(t *testing.T, cfg Config) *Engine
	// multi: several engines may be open at once (cluster).
	multi bool
	// dataDir is set for embedded backends (restart tests reopen it).
	dataDir string
}

var epSeq atomic.Int64

// newEndpoint returns an endpoint id unique in this test binary, so tests on a
// shared cluster do not see each other's jobs.
func newEndpoint() string { return fmt.Sprintf("ep%d", epSeq.Add(1)) }

// testLogger discards engine logs; ENGINE_LOG=1 sends them to stderr.
func testLogger() *slog.Logger {
	if os.Getenv("ENGINE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// fastConfig is a Config with small time settings for tests.
func fastConfig(eps ...string) Config {
	cfg := Config{
		PingInterval:    50 * time.Millisecond,
		WorkerLostAfter: 30 * time.Second, // tests of lost workers shorten it
		ReaperInterval:  50 * time.Millisecond,
		AckWait:         2 * time.Second,
		Logger:          testLogger(),
	}
	for _, ep := range eps {
		cfg.Endpoints = append(cfg.Endpoints, EndpointSettings{ID: ep})
	}
	return cfg
}

func openEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return e
}

// soloEngine opens an embedded engine on a fresh data directory with one new
// endpoint, and a context for the test's calls.
func soloEngine(t *testing.T) (*Engine, string, context.Context) {
	t.Helper()
	ep := newEndpoint()
	cfg := fastConfig(ep)
	cfg.DataDir = t.TempDir()
	return openEngine(t, cfg), ep, ctxT(t, 30*time.Second)
}

func embeddedBackend(t *testing.T) *backend {
	dir := t.TempDir()
	return &backend{
		name:    "embedded",
		dataDir: dir,
		open: func(t *testing.T, cfg Config) *Engine {
			cfg.DataDir = dir
			return openEngine(t, cfg)
		},
	}
}

// The shared test helpers, by their names in this package.
var (
	freePort = testutil.FreePort
	waitFor  = testutil.WaitFor
	ctxT     = testutil.Context
	noErr    = testutil.NoErr
)

func must[T any](v T, err error) T { return testutil.Must(v, err) }

// startCluster starts a 3-node JetStream cluster on 127.0.0.1 with NATS's
// default max_payload (1 MB) and returns its client URLs.
func startCluster(t testing.TB) string {
	url, _ := startClusterServers(t)
	return url
}

// startClusterServers is startCluster that also returns the servers.
func startClusterServers(t testing.TB) (string, []*server.Server) {
	t.Helper()
	const n = 3
	cports := make([]int, n)
	var routes []string
	for i := range cports {
		cports[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[i]))
	}
	var urls []string
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "sluice-test", Host: "127.0.0.1", Port: cports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("cluster node %d: %v", i, err)
		}
		go s.Start()
		servers = append(servers, s)
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	for i, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("cluster node %d not ready", i)
		}
		urls = append(urls, s.ClientURL())
	}
	url := strings.Join(urls, ",")
	// Wait until JetStream has a meta leader and can create an R3 stream.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "cluster JetStream ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "probe", Subjects: []string{"probe"}, Replicas: 3})
		return err == nil
	})
	return url, servers
}

func clusterBackend(url string) *backend {
	return &backend{
		name:  "cluster",
		multi: true,
		open: func(t *testing.T, cfg Config) *Engine {
			cfg.NATSURL = url
			cfg.Replicas = 3
			return openEngine(t, cfg)
		},
	}
}

func mustErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}
