package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder.
func newFakeAICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fakeai",
		Short: "Run the fake OpenAI-compatible API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &exitError{code: exitUsage, err: errors.New("fakeai: not implemented yet")}
		},
	}
}
