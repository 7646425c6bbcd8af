package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/rubric"
)

var statsCmd = &cobra.Command{
	Use:   "stats PATH...",
	Short: "Count the nodes, leaves per category, depth and weights of rubrics",
	Example: `  paperbench stats papers/rice/rubric.json
  paperbench stats --json papers/`,
	Long: `Stats measures each rubric named by PATH (a rubric file, a paper folder or a dataset
folder) and, for more than one, their total.`,
	Args: cobra.MinimumNArgs(1),
	RunE: runStats,
}

func init() {
	statsCmd.Flags().Bool("json", false, "print JSON instead of a table")
	rootCmd.AddCommand(statsCmd)
}

type rubricStats struct {
	namedRubric
	Stats rubric.Stats `json:"stats"`
}

func runStats(cmd *cobra.Command, args []string) error {
	files, err := rubricFiles(args)
	if err != nil {
		return err
	}
	var rows []rubricStats
	var total rubric.Stats
	for _, f := range files {
		root, err := loadRubric(f.Path)
		if err != nil {
			return err
		}
		s := rubric.StatsOf(root)
		total.Add(s)
		rows = append(rows, rubricStats{f, s})
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(cmd.OutOrStdout(), struct {
			Rubrics []rubricStats `json:"rubrics"`
			Total   rubric.Stats  `json:"total"`
		}{rows, total})
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "rubric\tnodes\tleaves\tdepth\tCode Dev.\tCode Exec.\tResult An.\tweights\t")
	for _, r := range rows {
		statsLine(w, r.Name, r.Stats)
	}
	if len(rows) > 1 {
		statsLine(w, fmt.Sprintf("total (%d)", len(rows)), total)
	}
	return w.Flush()
}

func statsLine(w *tabwriter.Writer, name string, s rubric.Stats) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v–%v\t\n", name, s.Nodes, s.Leaves, s.MaxDepth,
		s.LeavesByCategory[rubric.CodeDevelopment], s.LeavesByCategory[rubric.CodeExecution],
		s.LeavesByCategory[rubric.ResultAnalysis], s.MinWeight, s.MaxWeight)
}
