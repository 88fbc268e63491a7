//go:build !unix

package cli

import "os"

// windowWidth is unknown on this platform: callers fall back to $COLUMNS.
func windowWidth(*os.File) int { return 0 }
