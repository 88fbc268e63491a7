package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// BuildBinaries builds the main packages pkgs (import paths) into dir in one
// go build, and returns each binary's path by package, named after the last
// element of its import path.
func BuildBinaries(dir string, pkgs ...string) (map[string]string, error) {
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %w\n%s", pkgs, err, out)
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		bins[p] = filepath.Join(dir, path.Base(p))
	}
	return bins, nil
}
