// Package cli is the sluice command line: the server commands (serve,
// worker-env) and the client commands (run, runsync, status, stream, ...).
package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// streams are the process's standard streams, passed to every command.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Execute runs the sluice command line with args and returns the exit code.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{in: stdin, out: stdout, err: stderr}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: self-hosted serverless job platform, Runpod-compatible",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	addServerCommands(root, s) // serve, worker-env (server_cmd.go)
	addClientCommands(root, s) // run, runsync, status, ... (client_cmd.go)
	addVersion(root, s)        // version, --version (version_cmd.go)
	return runRoot(ctx, root, s)
}
