package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// cancelOnSignal is the annotation of commands that stop cleanly on Ctrl-C or SIGTERM: they
// run under a context the first signal cancels, and remove their partial outputs before they
// exit. The next signal ends the process at once. Other commands keep the default handling
// (the signal ends them) or, like chat, handle interrupts themselves.
var cancelOnSignal = map[string]string{"signals": "cancel"}

// releaseSignals undoes the signal handling of the running command, if any.
var releaseSignals = func() {}

// handleSignals gives cmd a context cancelled by the first SIGINT or SIGTERM when cmd asks for it.
func handleSignals(cmd *cobra.Command) {
	if cmd.Annotations["signals"] != "cancel" {
		return
	}
	ctx, stop := signal.NotifyContext(cmd.Root().Context(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, the default handling is back
	cmd.SetContext(ctx)
	releaseSignals = stop
}

// finish ends what the running command started around its work: signal handling and profile.
func finish() {
	releaseSignals()
	releaseSignals = func() {}
	stopProfile()
}
