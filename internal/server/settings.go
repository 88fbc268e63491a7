package server

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
)

// EnvAPIKeys names the environment variable holding extra client API keys,
// comma-separated. They are added to the config file's apiKeys.
const EnvAPIKeys = "SLUICE_API_KEYS"

// DefaultEndpoint is the endpoint served when there is neither a config file
// nor an --endpoint flag.
const DefaultEndpoint = "default"

// settings are the resolved inputs of Serve and WorkerEnv: the config file
// (or the flags standing in for it) merged with overrides.
type settings struct {
	file          *config.File // never nil: built from flags without a config file
	pingInterval  time.Duration
	retention     time.Duration
	syncRetention time.Duration
	maxRetries    int
}

// loadSettings reads path (when set) or builds an equivalent file from
// endpointIDs (default: one endpoint named "default").
func loadSettings(path string, endpointIDs []string, ov Overrides) (*settings, error) {
	var f *config.File
	if path != "" {
		if len(endpointIDs) > 0 {
			return nil, fmt.Errorf("--endpoint and --config do not mix: list the endpoints in %s", path)
		}
		var err error
		if f, err = config.Load(path); err != nil {
			return nil, err
		}
	} else {
		if len(endpointIDs) == 0 {
			endpointIDs = []string{DefaultEndpoint}
		}
		var b strings.Builder
		b.WriteString("endpoints:\n")
		for _, id := range endpointIDs {
			fmt.Fprintf(&b, "  - id: %q\n", id)
		}
		var err error
		if f, err = config.Parse([]byte(b.String()), "--endpoint"); err != nil {
			return nil, fmt.Errorf("endpoints from --endpoint: %w", err)
		}
	}
	s := &settings{
		file:          f,
		pingInterval:  f.PingInterval(),
		retention:     f.Retention.D(),
		syncRetention: f.SyncRetention.D(),
		maxRetries:    f.MaxRetries,
	}
	if ov.PingInterval > 0 {
		s.pingInterval = ov.PingInterval
	}
	if ov.Retention > 0 {
		s.retention = ov.Retention
	}
	if ov.SyncRetention > 0 {
		s.syncRetention = ov.SyncRetention
	}
	if ov.MaxRetries != nil {
		s.maxRetries = *ov.MaxRetries
	}
	return s, nil
}

// engineEndpoints are the engine's view of the configured endpoints.
func (s *settings) engineEndpoints() []engine.EndpointSettings {
	out := make([]engine.EndpointSettings, 0, len(s.file.Endpoints))
	for _, ep := range s.file.Endpoints {
		out = append(out, engine.EndpointSettings{ID: ep.ID, ExecutionTimeout: ep.ExecutionTimeout(), MaxQueue: ep.MaxQueue})
	}
	return out
}

// clientKeys are the file's apiKeys plus SLUICE_API_KEYS.
func (s *settings) clientKeys() []string {
	keys := slices.Clone(s.file.APIKeys)
	for k := range strings.SplitSeq(os.Getenv(EnvAPIKeys), ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// isLoopback reports whether a listen address only accepts local
// connections: 127.0.0.0/8, ::1 or localhost. An empty host (all
// interfaces) is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
