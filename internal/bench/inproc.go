package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/server"
)

// inProcess is a `sluice serve` run in this process for a bench.
type inProcess struct {
	addr string
	stop func()
}

// serveInProcess writes cfg (JSON is YAML: no quoting rules to get wrong
// for paths) to dir/sluice.yaml and runs server.Serve on a free loopback
// port with its data in dir/data, until ctx ends or stop is called. It
// returns once the server is listening.
func serveInProcess(ctx context.Context, dir string, cfg map[string]any, log *slog.Logger) (*inProcess, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: config: %w", err)
	}
	cfgPath := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(ctx, server.Options{
			Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ConfigPath: cfgPath, Logger: log,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		return &inProcess{addr: addr, stop: func() {
			cancel()
			if err := <-served; err != nil {
				log.Error("bench server", attrErr, err)
			}
		}}, nil
	case err := <-served:
		cancel()
		return nil, fmt.Errorf("bench: server: %w", err)
	}
}
