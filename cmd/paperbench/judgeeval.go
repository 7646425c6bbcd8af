package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/judgeeval"
	"github.com/latentlab/latent/paperbench/submission"
)

var judgeEvalCmd = &cobra.Command{
	Use: "judge-eval --data DIR --out DIR [--examples paper/example,...] [--judge simple|dummy|random]",
	Example: `  paperbench judge-eval --data ~/paperbench/data/judge_eval --out /tmp/je --judge random --seed 3
  paperbench judge-eval --data ~/paperbench/data/judge_eval --examples rice/0,pinn/0 --out /tmp/je --json`,
	Short: "Measure a judge against the human-graded JudgeEval examples",
	Long: `Judge-eval grades the JudgeEval examples (<data>/<paper>/<example>/ with submission/ or
submission.tar and grading/expected_result.json, the official layout) with a judge, the
human tree serving as the rubric, and compares every predicted leaf with the human leaf of
the same id, as the official JudgeEval does: accuracy and macro precision, recall and F1,
per example and pooled over all examples' leaves, overall and per task category. Leaves the
judge marked invalid are dropped. It adds a confusion matrix and the judge's cost per example.

The simple judge reads each paper from --papers (default: <data>/../papers). Results go to
<out>/results.json, graded trees to <out>/<paper>/<example>/graded.json. Every graded leaf
is journaled: run the same command again after an interruption to resume.`,
	Args: cobra.NoArgs,
	RunE: runJudgeEval,
}

func init() {
	f := judgeEvalCmd.Flags()
	f.String("data", "", "judge_eval folder (required)")
	f.String("examples", "", "examples to grade, comma-separated paper/example (default: all)")
	f.String("papers", "", "papers folder for the simple judge (default: <data>/../papers)")
	f.String("out", "", "output folder (required)")
	judgeFlags(f)
	f.Bool("json", false, "print the results as JSON (official metric names)")
	rootCmd.AddCommand(judgeEvalCmd)
}

func runJudgeEval(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	data, _ := f.GetString("data")
	out, _ := f.GetString("out")
	if data == "" || out == "" {
		return errors.New("judge-eval: --data and --out are required")
	}
	list, _ := f.GetString("examples")
	var ids []string
	for _, id := range strings.Split(list, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	examples, err := judgeeval.Discover(data, ids)
	if err != nil {
		return err
	}
	newGrader, prices, err := judgeEvalGrader(cmd, data)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	concurrency, _ := f.GetInt("concurrency")
	codeOnly, _ := f.GetBool("code-only")
	asJSON, _ := f.GetBool("json")
	w := cmd.OutOrStdout()
	opts := judgeeval.Options{Out: out, NewGrader: newGrader, Prices: prices, CodeOnly: codeOnly,
		Concurrency: 2 * concurrency}
	if !asJSON {
		fmt.Fprintf(w, "%-50s %6s %7s %6s %6s %6s %6s %9s\n", "example", "leaves", "dropped", "acc", "prec", "recall", "f1", "cost_usd")
		opts.OnExample = func(r judgeeval.ExampleResult) { printExampleRow(w, r) }
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	res, err := judgeeval.Run(ctx, examples, opts)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w; run the same command again to resume", err)
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printJudgeEval(w, res, filepath.Join(out, judgeeval.ResultsFile))
	return nil
}

// judgeEvalGrader returns the per-example judge named by --judge and the price table: the same
// judges grade builds, the simple one on each example's paper and submission.
func judgeEvalGrader(cmd *cobra.Command, data string) (judgeeval.NewGrader, map[string]judge.Price, error) {
	f := cmd.Flags()
	if err := checkJudgeFlags("judge-eval", f); err != nil {
		return nil, nil, err
	}
	s := gradeJudgeSettings(cmd)
	papers, _ := f.GetString("papers")
	if papers == "" {
		papers = filepath.Join(filepath.Dir(filepath.Clean(data)), "papers")
	}
	return func(ex judgeeval.Example, subDir string) (judge.Grader, func(), error) {
		if s.Name != "simple" {
			g, _, err := newGrader(s, "", nil)
			return g, nil, err
		}
		if subDir == "" {
			return nil, nil, fmt.Errorf("%s has neither %s/ nor %s", ex.Dir, judgeeval.SubmissionFolder, judgeeval.SubmissionTar)
		}
		sub, err := submission.Open(subDir)
		if err != nil {
			return nil, nil, err
		}
		g, _, err := newGrader(s, filepath.Join(papers, ex.Paper), sub)
		if err != nil {
			sub.Close()
			return nil, nil, err
		}
		return g, func() { sub.Close() }, nil
	}, judgePrices(s), nil
}

func printExampleRow(w io.Writer, r judgeeval.ExampleResult) {
	m := r.Metrics.Overall
	fmt.Fprintf(w, "%-50s %6d %7d %6s %6s %6s %6s %9.4f\n", r.ExampleID, r.Leaves, r.Dropped,
		metric(m.Accuracy), metric(m.Precision), metric(m.Recall), metric(m.F1), r.CostUSD)
}

func metric(f judgeeval.Float) string {
	if f != f {
		return "-"
	}
	return fmt.Sprintf("%.4f", float64(f))
}

func printJudgeEval(w io.Writer, res *judgeeval.Result, path string) {
	m := res.AggregateMetrics.Overall
	fmt.Fprintf(w, "%-50s %6d %7s %6s %6s %6s %6s %9.4f\n", "pooled", m.NumSamples, "", metric(m.Accuracy),
		metric(m.Precision), metric(m.Recall), metric(m.F1), res.CostUSD)
	fmt.Fprintf(w, "\n%-20s %7s %9s %9s %6s %6s %6s %6s\n", "task category", "samples", "positives", "negatives", "acc", "prec", "recall", "f1")
	for _, cat := range judgeeval.Categories(nil) {
		c := res.AggregateMetrics.Stratified[cat]
		fmt.Fprintf(w, "%-20s %7d %9d %9d %6s %6s %6s %6s\n", cat, c.NumSamples, c.NumPositives, c.NumNegatives,
			metric(c.Accuracy), metric(c.Precision), metric(c.Recall), metric(c.F1))
	}
	c := res.AggregateConfusion
	fmt.Fprintf(w, "\nconfusion (pooled; rows human, columns judge):\n%12s %8s %8s\n%12s %8d %8d\n%12s %8d %8d\n",
		"", "judge 1", "judge 0", "human 1", c.TP, c.FN, "human 0", c.FP, c.TN)
	fmt.Fprintf(w, "\n%s judge; mean cost $%.4f per example; results in %s\n", res.JudgeType, res.MeanCostUSD, path)
}
