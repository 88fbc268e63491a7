package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the sluice command.
const (
	exitOK          = 0   // success; for job commands: the job COMPLETED (run, retry: accepted)
	exitError       = 1   // a request failed, bad input, or any other error
	exitUsage       = 2   // wrong arguments or flags
	exitJobFailed   = 3   // the job ended FAILED, CANCELLED or TIMED_OUT
	exitJobPending  = 4   // the job has not finished (status of a running job, wait --timeout)
	exitInterrupted = 130 // interrupted (Ctrl-C) while waiting
)

// codeError carries an exit code other than 1 through cobra. With quiet
// set, nothing is printed: the command has already said it all.
type codeError struct {
	code  int
	err   error
	quiet bool
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// withCode attaches an exit code to err.
func withCode(code int, err error) error { return &codeError{code: code, err: err} }

// quietCode exits with code and prints nothing more.
func quietCode(code int, err error) error { return &codeError{code: code, err: err, quiet: true} }

// usageError is a mistake in the command line; the message names the help.
type usageError struct {
	cmd string // command path, e.g. "sluice status"
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// runRoot executes root and maps errors to exit codes. Errors are printed
// as one line, "sluice: <error>"; usage errors add where to find help.
func runRoot(ctx context.Context, root *cobra.Command, s streams) int {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), err: err}
	})
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		cmd := root.CommandPath()
		if ue != nil {
			cmd = ue.cmd
		}
		fmt.Fprintf(s.err, "sluice: %v\nRun '%s --help' for usage.\n", err, cmd)
		return exitUsage
	}
	var ce *codeError
	if errors.As(err, &ce) && ce.quiet {
		return ce.code
	}
	fmt.Fprintln(s.err, "sluice:", oneLine(err.Error()))
	if ce != nil {
		return ce.code
	}
	return exitError
}

// isCobraUsage recognizes cobra's own usage errors, which are untyped.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// args returns a cobra argument check that wants between lo and hi
// arguments and reports a usage error naming them.
func args(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < lo || len(a) > hi {
			var what string
			switch {
			case hi == 0:
				what = "no arguments"
			case hi > lo:
				what = fmt.Sprintf("%d or %d arguments, %s", lo, hi, names)
			case lo == 1:
				what = "1 argument, " + names
			default:
				what = fmt.Sprintf("%d arguments, %s", lo, names)
			}
			return &usageError{cmd: cmd.CommandPath(),
				err: fmt.Errorf("%s takes %s (got %d)", cmd.Name(), what, len(a))}
		}
		return nil
	}
}
