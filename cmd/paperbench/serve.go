package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/viewer"
)

var serveCmd = &cobra.Command{
	Use: "serve OUT [--addr 127.0.0.1:8090]",
	Example: `  paperbench serve runs
  paperbench serve runs --addr 127.0.0.1:0 --json   # prints {"url": ...} once listening`,
	Short: "Serve a read-only web viewer of a runs folder",
	Long: `Serve starts a local, read-only web viewer of the runs folder OUT (OUT/<run-group>/<paper>/<seed>/):
run groups, papers and seeds; each seed's graded rubric tree (expand and collapse, weights,
scores, the judge's explanation per leaf, invalid leaves marked, filters by task category and
by failed leaves); the agent's transcript with its tool calls; the reproduction record and
log; and the leaves that differ between two seeds. It binds 127.0.0.1 by default and serves
nothing outside OUT.`,
	Args: cobra.ExactArgs(1),
	RunE: runServe,
}

func init() {
	serveCmd.Flags().String("addr", "127.0.0.1:8090", "address to listen on")
	serveCmd.Flags().Bool("json", false, `print {"out": OUT, "url": "http://ADDR/"} once listening (for scripts)`)
	rootCmd.AddCommand(serveCmd)
}

func runServe(cmd *cobra.Command, args []string) error {
	addr, _ := cmd.Flags().GetString("addr")
	v, err := viewer.New(args[0])
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer v.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: v, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	url := fmt.Sprintf("http://%s/", ln.Addr())
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		if err := writeJSON(cmd.OutOrStdout(), map[string]string{"out": args[0], "url": url}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "serving %s at %s (Ctrl-C to stop)\n", args[0], url)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
