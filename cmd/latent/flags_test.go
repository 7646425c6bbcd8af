package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// resetFlags puts every flag back to its default so in-process runs do not leak into each other.
func resetFlags(cmds []*cobra.Command) {
	for _, c := range cmds {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if v, ok := f.Value.(interface{ reset() }); ok {
				v.reset() // a default the flag refuses when typed, e.g. --steps 0
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
		resetFlags(c.Commands())
	}
}
