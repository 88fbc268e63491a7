package cli

import (
	"github.com/spf13/cobra"
)

func benchCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:     "bench",
		GroupID: groupServer,
		Short:   "Measure a real server with no-op workers (not implemented yet)",
		Hidden:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}
