package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder.
func newFakeSinkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fakesink",
		Short: "Run the fake VictoriaLogs sink",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &exitError{code: exitUsage, err: errors.New("fakesink: not implemented yet")}
		},
	}
}
