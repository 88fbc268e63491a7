package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/sluicehq/sluice/internal/wire"
)

// WorkerEnvOptions configure WorkerEnv.
type WorkerEnvOptions struct {
	// Endpoint is the endpoint id the worker serves. Required.
	Endpoint string
	// Addr is the server address workers reach (host:port or a base URL
	// such as http://host:port). Defaults to 127.0.0.1:8080; an
	// all-interfaces host (0.0.0.0, ::) becomes 127.0.0.1.
	Addr string
	// ConfigPath, DataDir, Endpoints and Overrides as in Options: they must
	// match the server's so that the key and ping interval match.
	ConfigPath string
	DataDir    string
	Endpoints  []string
	Overrides  Overrides
	// WorkerID becomes RUNPOD_POD_ID. Default: a random id. Each worker
	// process needs its own.
	WorkerID string
}

// WorkerEnv returns the RUNPOD_* environment a worker of opts.Endpoint needs
// to talk to the server, as KEY=value strings (os/exec style, unquoted).
func WorkerEnv(opts WorkerEnvOptions) ([]string, error) {
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	if opts.ConfigPath == "" && len(opts.Endpoints) == 0 {
		// Without a config file any endpoint id the server was given by
		// --endpoint is valid; the key comes from the data directory.
		opts.Endpoints = []string{opts.Endpoint}
	}
	s, err := loadSettings(opts.ConfigPath, opts.Endpoints, opts.Overrides)
	if err != nil {
		return nil, err
	}
	if s.file.Endpoint(opts.Endpoint) == nil {
		ids := make([]string, 0, len(s.file.Endpoints))
		for _, ep := range s.file.Endpoints {
			ids = append(ids, ep.ID)
		}
		return nil, fmt.Errorf("endpoint %q is not configured (configured: %s)", opts.Endpoint, strings.Join(ids, ", "))
	}
	keys, err := workerKeys(opts.DataDir, s.file)
	if err != nil {
		return nil, err
	}
	id := opts.WorkerID
	if id == "" {
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generate worker id: %w", err)
		}
		id = "w-" + hex.EncodeToString(b)
	}
	return wire.WorkerEnv{BaseURL: BaseURL(opts.Addr), Endpoint: opts.Endpoint, Key: keys[opts.Endpoint],
		WorkerID: id, PingIntervalMs: s.pingInterval.Milliseconds()}.Environ(), nil
}

// BaseURL turns a listen address into the base URL workers and clients use.
func BaseURL(addr string) string {
	if addr == "" {
		addr = DefaultAddr
	}
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimRight(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ShellQuote renders KEY=value as a line a POSIX shell can source without
// expanding the $ placeholders.
func ShellQuote(kv string) string {
	k, v, _ := strings.Cut(kv, "=")
	return k + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
