// Command latent runs, inspects, trains and serves recurrent-depth ("latent reasoning")
// language models such as Huginn-0125.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "latent",
	Short:         "Run, inspect and train recurrent-depth language models",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "latent:", err)
		os.Exit(1)
	}
}
