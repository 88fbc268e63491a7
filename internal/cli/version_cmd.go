package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/version"
)

// addVersion gives root a --version flag (one line) and a version command
// (one field per line, or --json).
func addVersion(root *cobra.Command, s streams) {
	info := version.Get()
	root.Version = info.String()
	root.SetVersionTemplate("{{.Version}}\n")
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print Sluice's version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				b, err := json.Marshal(info)
				if err != nil {
					return fmt.Errorf("encode version: %w", err)
				}
				_, err = fmt.Fprintf(s.out, "%s\n", b)
				return err
			}
			_, err := fmt.Fprintf(s.out, "sluice %s\ncommit:   %s\nbuilt:    %s\ngo:       %s\nplatform: %s\n",
				info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the fields as a JSON object")
	root.AddCommand(c)
}
