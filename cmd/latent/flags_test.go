package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// resetFlags puts every flag back to its default so in-process runs do not leak into each other.
func resetFlags(cmds []*cobra.Command) {
	for _, c := range cmds {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			f.Value.Set(f.DefValue)
			f.Changed = false
		})
		resetFlags(c.Commands())
	}
}
