// Package cli is portico's command line: it parses commands and flags,
// loads configurations and hands them to the gateway, and maps outcomes to
// exit codes (0 success, 1 a failed check or run, 2 bad usage).
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes (interface-contract.md).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// exitError carries an exit code out of a command; its message, if any, has
// already been printed or is printed by Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// fail wraps err as a failed run (exit 1).
func fail(err error) error { return &exitError{code: exitFail, err: err} }

// silentFail exits 1 without printing: the command already explained.
var silentFail = &exitError{code: exitFail}

// Main runs the command line args and returns the process's exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "portico: "+ee.err.Error())
		}
		return ee.code
	}
	// Anything else cobra returns is a usage mistake: unknown command or
	// flag, wrong number of arguments.
	fmt.Fprintln(stderr, "portico: "+err.Error())
	fmt.Fprintln(stderr, "Run 'portico --help' for usage.")
	return exitUsage
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "portico",
		Short: "A reverse proxy and load balancer that answers every failure exactly",
		Long: `portico is a reverse proxy and load balancer. Every failure it meets maps
to the right status and one precise cause, sent as a Proxy-Status header,
logged and counted.

Run without arguments for the embedded demo.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), stdout, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRunCommand(stderr),
		newValidateCommand(stdout, stderr),
		newVersionCommand(stdout),
		newDiagnoseCommand(stdout, stderr),
		newStatusCommand(stdout),
	)
	return root
}
