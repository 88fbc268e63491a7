package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
)

// runLBBench is `sluice bench --lb`: the load-balancing proxy next to
// direct calls to the same worker.
func runLBBench(cmd *cobra.Command, s streams, exe string, opts bench.Options, verbose bool, profileDir string) error {
	lo := bench.LBOptions{WorkerCommand: []string{exe, "bench-lb-worker"}, Concurrency: opts.Concurrency}
	if verbose {
		lo.Logger = slog.New(slog.NewTextHandler(s.err, nil))
	}
	if profileDir != "" { // server.pprof: the bench process (server and clients)
		stop, err := startProfiles(profileDir, &opts)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := tuneServerMemory(cmd.Context(), "", slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	rep, err := bench.LB(cmd.Context(), lo)
	if err != nil {
		return err
	}
	return rep.Print(s.out)
}

// benchLBWorkerCommand is the net/http worker of `sluice bench --lb` (hidden).
func benchLBWorkerCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-lb-worker",
		Hidden: true,
		Short:  "Load-balancing worker (HTTP on $PORT) used by sluice bench --lb",
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if code := bench.LBWorkerMain(cmd.Context()); code != 0 {
				return fmt.Errorf("bench lb worker exited with code %d", code)
			}
			return nil
		},
	}
}
