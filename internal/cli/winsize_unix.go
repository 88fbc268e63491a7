//go:build unix

package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// windowWidth asks the terminal f for its width in columns; 0 if unknown.
func windowWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
