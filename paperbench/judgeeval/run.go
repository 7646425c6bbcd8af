package judgeeval

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/internal/atomicfile"
	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/rubric"
)

// ResultsFile is the name of the pooled report in the output folder; GradedFile that of
// each example's graded tree in <out>/<paper>/<example>/.
const (
	ResultsFile = "results.json"
	GradedFile  = "graded.json"
)

// NewGrader builds the judge for one example; submission is the example's submission
// folder ("" when it has none). The returned close function, if not nil, is called once
// the example is graded.
type NewGrader func(ex Example, submission string) (judge.Grader, func(), error)

// Options tune [Run].
type Options struct {
	Out         string // output folder: results, graded trees, journals
	NewGrader   NewGrader
	Prices      map[string]judge.Price
	CodeOnly    bool // grade the Code Development leaves only, like the official --code_only
	Concurrency int  // leaves graded at once per example (judge.Options.Concurrency)
	// OnExample, if set, is called after each example is graded.
	OnExample func(r ExampleResult)
}

// ExampleResult is what one example gave.
type ExampleResult struct {
	ExampleID     string               `json:"example_id"`
	PaperID       string               `json:"paper_id"`
	Metrics       Summary              `json:"metrics"`
	Confusion     Confusion            `json:"confusion"`
	Leaves        int                  `json:"leaves"`
	Dropped       int                  `json:"invalid_predictions_dropped"`
	Score         float64              `json:"score"`          // root score of the judge's tree
	ExpectedScore float64              `json:"expected_score"` // root score of the human tree
	Resumed       int                  `json:"resumed_leaves"`
	TokenUsage    judge.Usage          `json:"token_usage"`
	CostUSD       float64              `json:"cost_usd"`
	Unpriced      []string             `json:"unpriced_models,omitempty"`
	Graded        string               `json:"graded_task_tree"` // path of the graded tree
	Samples       []Sample             `json:"-"`
	ByCategory    map[string]Confusion `json:"confusion_by_category"`
}

// Result is the whole evaluation (the official JudgeEvalResult, plus confusion and cost).
type Result struct {
	JudgeType          string          `json:"judge_type"`
	CodeOnly           bool            `json:"code_only"`
	Results            []ExampleResult `json:"results"`
	AggregateMetrics   Summary         `json:"aggregate_metrics"`
	AggregateConfusion Confusion       `json:"aggregate_confusion"`
	TokenUsage         judge.Usage     `json:"aggregate_token_usage"`
	CostUSD            float64         `json:"cost_usd"`
	MeanCostUSD        float64         `json:"mean_cost_usd_per_example"`
}

// Run grades every example with the judge from opts.NewGrader and pools the metrics. Each
// example's leaves are journaled under opts.Out as they are graded, so a run interrupted
// (or stopped by an error) resumes where it stopped when called again with the same
// output folder and judge. The report is written to opts.Out/results.json.
func Run(ctx context.Context, examples []Example, opts Options) (*Result, error) {
	res := &Result{TokenUsage: judge.Usage{}, CodeOnly: opts.CodeOnly}
	var pooled []Sample
	for _, ex := range examples {
		r, jtype, err := runExample(ctx, ex, opts)
		if err != nil {
			return nil, err
		}
		res.JudgeType = jtype
		res.Results = append(res.Results, r)
		pooled = append(pooled, r.Samples...)
		res.TokenUsage.Merge(r.TokenUsage)
		res.CostUSD += r.CostUSD
		if opts.OnExample != nil {
			opts.OnExample(r)
		}
	}
	res.AggregateMetrics = Summarize(pooled)
	res.AggregateConfusion = ConfusionOf(pooled)
	if len(examples) > 0 {
		res.MeanCostUSD = res.CostUSD / float64(len(examples))
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	return res, atomicfile.WriteFile(filepath.Join(opts.Out, ResultsFile), append(data, '\n'))
}

// runExample grades one example and compares it with the human tree.
func runExample(ctx context.Context, ex Example, opts Options) (ExampleResult, string, error) {
	work := filepath.Join(opts.Out, filepath.FromSlash(ex.ID))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return ExampleResult{}, "", err
	}
	sub, err := ex.Submission(work)
	if err != nil {
		return ExampleResult{}, "", fmt.Errorf("judge-eval: %s: %w", ex.ID, err)
	}
	g, closeFn, err := opts.NewGrader(ex, sub)
	if err != nil {
		return ExampleResult{}, "", fmt.Errorf("judge-eval: %s: %w", ex.ID, err)
	}
	if closeFn != nil {
		defer closeFn()
	}
	expected := ex.Expected
	if opts.CodeOnly {
		expected = codeOnly(expected)
	}
	out := filepath.Join(work, GradedFile)
	rep, err := judge.Run(ctx, expected, g, judge.Options{Concurrency: opts.Concurrency, Journal: judge.JournalPath(out)})
	if err != nil {
		return ExampleResult{}, "", fmt.Errorf("judge-eval: %s: %w", ex.ID, err)
	}
	if err := rubric.WriteFile(out, rep.Tree); err != nil {
		return ExampleResult{}, "", err
	}
	samples, dropped, err := Compare(rep.Tree, expected)
	if err != nil {
		return ExampleResult{}, "", fmt.Errorf("%s: %w", ex.ID, err)
	}
	r := ExampleResult{ExampleID: ex.ID, PaperID: ex.Paper, Metrics: Summarize(samples),
		Confusion: ConfusionOf(samples), Leaves: rep.Leaves, Dropped: dropped, Score: rep.Score,
		ExpectedScore: expected.Grade.Score, Resumed: rep.Resumed, TokenUsage: rep.Usage,
		Graded: out, Samples: samples, ByCategory: map[string]Confusion{}}
	r.CostUSD, r.Unpriced = rep.Usage.Cost(opts.Prices)
	for _, cat := range Categories(samples) {
		var c Confusion
		for _, s := range samples {
			if s.Category == cat {
				c.Add(ConfusionOf([]Sample{s}))
			}
		}
		r.ByCategory[cat] = c
	}
	return r, g.Type(), nil
}

// codeOnly reduces a human tree to its Code Development leaves, as the official
// JudgeEval does with --code_only: when none is left, the root becomes one such leaf.
func codeOnly(root *rubric.Node) *rubric.Node {
	if reduced := rubric.CodeOnly(root); reduced != nil {
		rubric.Score(reduced)
		return reduced
	}
	leaf := &rubric.Node{ID: root.ID, Requirements: root.Requirements, Weight: root.Weight,
		TaskCategory: rubric.CodeDevelopment, Grade: root.Grade}
	return leaf
}

// extractOnce unpacks tar into dir unless an earlier run did; it extracts into a
// temporary folder and renames it, so dir exists only complete.
func extractOnce(tar, dir string) (string, error) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	f, err := os.Open(tar)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".submission-*")
	if err != nil {
		return "", err
	}
	if err := archive.Extract(f, tmp, archive.Limits{}); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("%s: %w", tar, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}
