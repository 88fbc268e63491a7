package testutil

import (
	"bytes"
	"errors"
	"os/exec"
)

// Run runs cmd to its end and returns what it wrote and its exit code. err is
// set only when the process could not run or was killed (a non-zero exit is
// a code, not an error).
func Run(cmd *exec.Cmd) (stdout, stderr string, code int, err error) {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		err = nil
	}
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return out.String(), errOut.String(), code, err
}
