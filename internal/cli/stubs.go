package cli

// TEMPORARY: each owner replaces its stub with the real file and deletes it here.

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// addServerCommands: owned by the server author (server_cmd.go).
func addServerCommands(root *cobra.Command, s streams) {}

// addClientCommands: owned by the client/CLI author (client_cmd.go).
func addClientCommands(root *cobra.Command, s streams) {}

// runRoot executes root and maps errors to exit codes: owned by the client/CLI author.
func runRoot(ctx context.Context, root *cobra.Command, s streams) int {
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(s.err, "sluice:", err)
		return 1
	}
	return 0
}
