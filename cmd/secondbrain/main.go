// Command secondbrain is the MCP server that consults other models with a
// whole project as context, and the harness that replays the incidents that
// once made such a server hang.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFail    = 1 // a verdict failed / a regression was found
	exitUsage   = 2 // bad usage, or the harness itself broke
	exitInvalid = 3 // the run is invalid: the harness fell behind
)

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "secondbrain",
		Short:         "MCP server for second opinions from other models, and its incident-replay harness",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newConfigCmd(),
		newFakeAICmd(),
		newFakeSinkCmd(),
		newReplayCmd(),
		newLoadCmd(),
		newScenariosCmd(),
		newReportCmd(),
		newVersionCmd(),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "secondbrain:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "secondbrain:", err)
	return exitUsage
}
