package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/report"
	"github.com/latentlab/latent/paperbench/rungroup"
)

var reportCmd = &cobra.Command{
	Use: "report RUNGROUP --out DIR",
	Example: `  paperbench report runs/run-group_basic --out /tmp/report
  paperbench report runs/run-group_basic --out /tmp/report --json`,
	Short: "Write a self-contained HTML report with plots of one run group",
	Long: `Report reads a run group folder (<group>/<paper>/<seed>/graded.json, with the optional
agent/usage.json, agent/transcript.jsonl, reproduce/manifest.json and status.json of each
seed) and writes DIR/index.html, a page that needs no network, with PNG and SVG plots
beside it: the score per paper with standard-error bars, the score per task category, the
leaves most often failed, and score against agent cost and working time where recorded.
Seeds still running, failed reproductions, invalid leaves and unreadable files are shown.`,
	Args: cobra.ExactArgs(1),
	RunE: runReport,
}

func init() {
	reportCmd.Flags().String("out", "", "output folder (required)")
	reportCmd.Flags().Bool("json", false, `print {"group", "papers", "complete_seeds", "unreadable_files", "index", "figures"}`)
	rootCmd.AddCommand(reportCmd)
}

func runReport(cmd *cobra.Command, args []string) error {
	out, _ := cmd.Flags().GetString("out")
	if out == "" {
		return fmt.Errorf("report: --out is required")
	}
	g, err := rungroup.Load(args[0])
	if err != nil {
		return err
	}
	r, err := report.Build(g)
	if err != nil {
		return err
	}
	if err := r.Write(out); err != nil {
		return err
	}
	s := r.Summary
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(cmd.OutOrStdout(), map[string]any{"group": g.Name, "papers": len(g.Papers),
			"complete_seeds": len(s.Complete), "unreadable_files": len(g.Problems),
			"index": filepath.Join(out, report.IndexFile), "figures": len(r.Figures)})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d papers, %d complete seeds, %d files unreadable; wrote %s and %d figures\n",
		g.Name, len(g.Papers), len(s.Complete), len(g.Problems), filepath.Join(out, report.IndexFile), len(r.Figures))
	return nil
}
