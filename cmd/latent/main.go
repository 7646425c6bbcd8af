// Command latent runs, inspects, trains and serves recurrent-depth ("latent reasoning")
// language models such as Huginn-0125.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/latentlab/latent/internal/version"
	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "latent",
	Short:         "Run, inspect and train recurrent-depth language models",
	Version:       version.String(),
	SilenceUsage:  true,
	SilenceErrors: true,
}

// cpuProfile is the --cpuprofile file of the running command, if any.
var cpuProfile struct {
	path string
	file *os.File
}

func init() {
	rootCmd.PersistentFlags().StringVar(&cpuProfile.path, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		handleSignals(cmd)
		if cpuProfile.path == "" {
			return nil
		}
		f, err := os.Create(cpuProfile.path)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		cpuProfile.file = f
		return pprof.StartCPUProfile(f)
	}
}

// stopProfile ends the CPU profile, if one is being written.
func stopProfile() {
	if cpuProfile.file != nil {
		pprof.StopCPUProfile()
		cpuProfile.file.Close()
		cpuProfile.file = nil
	}
}

func main() {
	err := rootCmd.Execute()
	finish()
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "latent: interrupted, partial output removed:", err)
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "latent:", err)
		os.Exit(1)
	}
}
