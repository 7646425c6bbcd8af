package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/rubric"
)

var scoreCmd = &cobra.Command{
	Use:   "score FILE",
	Short: "Recompute the scores of a graded tree from its leaves and print the root score",
	Example: `  paperbench score rice.graded.json
  paperbench score --json rice.graded.json`,
	Long: `Score reads a graded tree (grader output or a JudgeEval expected_result.json),
recomputes every inner node's score from the leaf scores as the official judge does
(weighted mean of the children), and prints the root score with the stored one.
An invalid leaf makes its ancestors invalid, which the official code does not show.`,
	Args: cobra.ExactArgs(1),
	RunE: runScore,
}

func init() {
	scoreCmd.Flags().Bool("json", false, "print JSON")
	rootCmd.AddCommand(scoreCmd)
}

// scoreReport is what the score command prints.
type scoreReport struct {
	File          string  `json:"file"`
	Score         float64 `json:"score"`
	StoredScore   float64 `json:"stored_score"`
	Valid         bool    `json:"valid"`
	Leaves        int     `json:"leaves"`
	InvalidLeaves int     `json:"invalid_leaves"`
	InnerNodes    int     `json:"inner_nodes"`
	ChangedInner  int     `json:"changed_inner_nodes"` // inner nodes whose stored score differs
}

func runScore(cmd *cobra.Command, args []string) error {
	root, err := loadRubric(args[0])
	if err != nil {
		return err
	}
	if root.Grade == nil {
		return fmt.Errorf("%s is a rubric, not a graded tree (its nodes have no score)", args[0])
	}
	report := scoreReport{File: args[0], StoredScore: root.Grade.Score}
	stored := map[*rubric.Node]float64{}
	rubric.Walk(root, func(_ rubric.Path, n *rubric.Node) bool {
		stored[n] = n.Grade.Score
		return true
	})
	if report.Score, err = rubric.Score(root); err != nil {
		return err
	}
	report.Valid = root.Grade.Valid
	rubric.Walk(root, func(_ rubric.Path, n *rubric.Node) bool {
		switch {
		case n.IsLeaf():
			report.Leaves++
			if !n.Grade.Valid {
				report.InvalidLeaves++
			}
		case n.Grade.Score != stored[n]:
			report.InnerNodes++
			report.ChangedInner++
		default:
			report.InnerNodes++
		}
		return true
	})
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(out, report)
	}
	_, err = fmt.Fprintf(out, "%s: score %s (stored %s), valid %v; %d leaves, %d invalid; %d of %d inner scores changed\n",
		report.File, formatScore(report.Score), formatScore(report.StoredScore), report.Valid,
		report.Leaves, report.InvalidLeaves, report.ChangedInner, report.InnerNodes)
	return err
}

// formatScore prints every digit needed to tell two float64 scores apart.
func formatScore(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
