package e2e

import "os/exec"

func execSluice(args ...string) *exec.Cmd { return exec.Command(bins.sluice, args...) }
