// Command paperbench validates, grades and reports PaperBench rubrics and submissions.
package main

import (
	"fmt"
	"os"

	"github.com/latentlab/latent/internal/version"
	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "paperbench",
	Short:         "Run the PaperBench benchmark: agents in sandboxes, reproduction, grading, results and reports",
	Version:       version.String(),
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "paperbench:", err)
		os.Exit(1)
	}
}
