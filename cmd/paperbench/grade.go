package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/dataset"
	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/reproduce"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/submission"
)

var gradeCmd = &cobra.Command{
	Use:   "grade --paper DIR --submission DIR --out FILE",
	Short: "Grade a submission against a paper's rubric with an LLM judge",
	Example: `  paperbench grade --paper papers/rice --submission runs/rice --out rice.graded.json --judge dummy
  OPENAI_API_KEY=sk-... paperbench grade --paper papers/rice --submission runs/rice --out rice.graded.json
  paperbench grade --paper papers/rice --submission runs/rice --out g.json --base-url http://localhost:8000/v1 \\
    --model my-judge --context-window 128000 --reasoning-effort medium --concurrency 20 --json`,
	Long: `Grade grades every leaf of the paper's rubric (or of --rubric) against the submission
folder and writes the graded tree, in the official grader-output format, to --out.

Judges: simple (the official SimpleJudge, through any OpenAI-compatible endpoint: per leaf
it ranks the submission's files, grades with the paper, addendum, reproduce.sh and
reproduce.log, then parses the verdict), dummy (every leaf 1) and random (0 or 1, seeded).

The endpoint comes from --base-url or OPENAI_BASE_URL, the key from --api-key,
GRADER_OPENAI_API_KEY or OPENAI_API_KEY. At most --concurrency requests are in flight.
Every graded leaf is journaled in FILE.journal.jsonl as it completes: run the same command
again after an interruption (Ctrl-C is safe) to resume without paying twice.`,
	Args: cobra.NoArgs,
	RunE: runGrade,
}

func init() {
	f := gradeCmd.Flags()
	f.String("paper", "", "paper folder (paper.md, addendum.md, judge.addendum.md, rubric.json)")
	f.String("rubric", "", "rubric or graded tree to grade instead of the paper's rubric.json")
	f.String("submission", "", "submission folder or tar / tar.gz, or the --out folder of paperbench reproduce (required)")
	f.String("out", "", "graded tree to write (required)")
	f.Bool("resources-provided", false, "give Dataset and Model Acquisition leaves weight 0")
	judgeFlags(f)
	f.Bool("json", false, "print the summary as JSON")
	rootCmd.AddCommand(gradeCmd)
}

// gradeSummary is what the grade command prints.
type gradeSummary struct {
	Out           string         `json:"out"`
	Judge         string         `json:"judge"`
	Score         float64        `json:"score"`
	Leaves        int            `json:"leaves"`
	InvalidLeaves []invalidLeaf  `json:"invalid_leaves"`
	FailedLeaves  int            `json:"failed_leaves"` // invalid because the grading failed: the command exits 1
	Resumed       int            `json:"resumed_leaves"`
	Usage         judge.Usage    `json:"token_usage"`
	CostUSD       float64        `json:"cost_usd"`
	Unpriced      []string       `json:"unpriced_models,omitempty"`
	Skipped       []skippedEntry `json:"skipped_submission_entries,omitempty"`
	Seconds       float64        `json:"seconds"`
}

type invalidLeaf struct {
	Path        string `json:"path"`
	ID          string `json:"id"`
	Explanation string `json:"explanation"`
}

type skippedEntry struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func runGrade(cmd *cobra.Command, _ []string) error {
	if err := checkGradeFlags(cmd); err != nil {
		return err
	}
	f := cmd.Flags()
	out, _ := f.GetString("out")
	subPath, _ := f.GetString("submission")
	root, err := gradeRubric(cmd)
	if err != nil {
		return err
	}
	sub, cleanup, err := openGradedSubmission(subPath)
	if err != nil {
		return err
	}
	defer cleanup()
	grader, prices, err := makeGrader(cmd, sub)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	concurrency, _ := f.GetInt("concurrency")
	start := time.Now()
	report, err := judge.Run(ctx, root, grader, judge.Options{
		Concurrency: 2 * concurrency, // leaves in progress; the client bounds the requests
		Journal:     judge.JournalPath(out),
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w; run the same command again to resume from %s", err, judge.JournalPath(out))
		}
		return err
	}
	if err := rubric.WriteFile(out, report.Tree); err != nil {
		return err
	}
	summary := summarize(out, grader, report, prices, time.Since(start))
	if err := printSummary(cmd.OutOrStdout(), summary, f.Changed("json")); err != nil {
		return err
	}
	if summary.FailedLeaves > 0 {
		return failedLeavesError(summary, judge.JournalPath(out))
	}
	return nil
}

// gradeRubric loads the rubric to grade and applies --code-only and --resources-provided.
func gradeRubric(cmd *cobra.Command) (*rubric.Node, error) {
	f := cmd.Flags()
	paperDir, _ := f.GetString("paper")
	path, _ := f.GetString("rubric")
	if path == "" {
		if paperDir == "" {
			return nil, errors.New("grade: give --paper or --rubric")
		}
		path = filepath.Join(paperDir, dataset.RubricFile)
	}
	root, err := loadRubric(path)
	if err != nil {
		return nil, err
	}
	if codeOnly, _ := f.GetBool("code-only"); codeOnly {
		reduced := rubric.CodeOnly(root)
		if reduced == nil { // as the official grader: the root becomes one Code Development leaf
			reduced = &rubric.Node{ID: root.ID, Requirements: root.Requirements, Weight: root.Weight,
				TaskCategory: rubric.CodeDevelopment}
		}
		root = reduced
	}
	if provided, _ := f.GetBool("resources-provided"); provided {
		root = rubric.ResourcesProvided(root)
	}
	return root, nil
}

// judgeSettings are the judge's options, from the grade command's flags or the run
// command's --judge-* flags.
type judgeSettings struct {
	Name, Model, ParseModel, BaseURL, APIKey, ReasoningEffort string
	Concurrency, MaxRetries, MaxPriorNodes, ContextWindow     int
	RequestTimeout                                            time.Duration
	PriceIn, PriceOut                                         float64
	Seed                                                      uint64
	CodeOnly                                                  bool
}

// gradeJudgeSettings reads the grade command's judge flags.
func gradeJudgeSettings(cmd *cobra.Command) judgeSettings {
	f := cmd.Flags()
	var s judgeSettings
	s.Name, _ = f.GetString("judge")
	s.Model, _ = f.GetString("model")
	s.ParseModel, _ = f.GetString("parse-model")
	s.BaseURL, _ = f.GetString("base-url")
	s.APIKey, _ = f.GetString("api-key")
	s.ReasoningEffort, _ = f.GetString("reasoning-effort")
	s.Concurrency, _ = f.GetInt("concurrency")
	s.MaxRetries, _ = f.GetInt("max-retries")
	s.MaxPriorNodes, _ = f.GetInt("max-prior-nodes")
	s.ContextWindow, _ = f.GetInt("context-window")
	s.RequestTimeout, _ = f.GetDuration("request-timeout")
	s.PriceIn, _ = f.GetFloat64("price-in")
	s.PriceOut, _ = f.GetFloat64("price-out")
	s.Seed, _ = f.GetUint64("seed")
	s.CodeOnly, _ = f.GetBool("code-only")
	return s
}

// openGradedSubmission opens what --submission names: a submission folder, a tar / tar.gz of
// one (extracted through the safe extractor into a temporary folder that cleanup removes), or
// the OUT folder of `paperbench reproduce`, whose executed submission (with reproduce.log and
// reproduce.log.creation_time at its root) is what gets graded.
func openGradedSubmission(path string) (*submission.Dir, func(), error) {
	scratch, err := os.MkdirTemp("", "paperbench-grade-*")
	if err != nil {
		return nil, nil, fmt.Errorf("grade: %w", err)
	}
	removeScratch := func() { os.RemoveAll(scratch) }
	dir, _, err := submission.Unpack(path, filepath.Join(scratch, "submission"))
	if err != nil {
		removeScratch()
		return nil, nil, fmt.Errorf("grade: --submission: %w", err)
	}
	if exe, ok := reproduce.ExecutedSubmission(dir); ok {
		dir = exe
	}
	sub, err := submission.Open(dir)
	if err != nil {
		removeScratch()
		return nil, nil, err
	}
	return sub, func() { sub.Close(); removeScratch() }, nil
}

// makeGrader builds the judge named by --judge and the prices of its models.
func makeGrader(cmd *cobra.Command, sub *submission.Dir) (judge.Grader, map[string]judge.Price, error) {
	paperDir, _ := cmd.Flags().GetString("paper")
	return newGrader(gradeJudgeSettings(cmd), paperDir, sub)
}

// newGrader builds the judge s names for the paper folder and the submission.
func newGrader(s judgeSettings, paperDir string, sub *submission.Dir) (judge.Grader, map[string]judge.Price, error) {
	switch s.Name {
	case "dummy":
		return judge.Dummy{}, judge.DefaultPrices, nil
	case "random":
		return judge.Random{Seed: s.Seed}, judge.DefaultPrices, nil
	case "simple":
	default:
		return nil, nil, fmt.Errorf("grade: unknown judge %q (want simple, dummy or random)", s.Name)
	}
	if paperDir == "" {
		return nil, nil, errors.New("grade: the simple judge needs --paper (it reads paper.md)")
	}
	paper, err := dataset.LoadPaper(paperDir)
	if err != nil {
		return nil, nil, err
	}
	paperText, err := paper.Read(dataset.PaperMarkdown)
	if err != nil {
		return nil, nil, err
	}
	addendum, err := optionalPaperFile(paper, dataset.AddendumFile)
	if err != nil {
		return nil, nil, err
	}
	judgeAddendum, err := optionalPaperFile(paper, dataset.JudgeAddendumFile)
	if err != nil {
		return nil, nil, err
	}
	client := judgeClient(s)
	prices := judgePrices(s)
	maxPrior := s.MaxPriorNodes
	if maxPrior < 0 {
		maxPrior = 0
		if paper.ID == "pinn" {
			maxPrior = 5
		}
	}
	simple, err := judge.NewSimple(judge.SimpleConfig{
		Client: client, ParseModel: s.ParseModel, Paper: string(paperText), Addendum: addendum,
		JudgeAddendum: judgeAddendum, Submission: sub, CodeOnly: s.CodeOnly, MaxPriorNodes: maxPrior,
		ContextWindow: s.ContextWindow, Prices: prices,
	})
	return simple, prices, err
}

// optionalPaperFile reads a paper file that may be absent.
func optionalPaperFile(p *dataset.Paper, name string) (string, error) {
	data, err := p.Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(data), err
}

// judgeClient builds the endpoint client from the settings and the environment.
func judgeClient(s judgeSettings) *llm.Client {
	key := s.APIKey
	if key == "" {
		key = os.Getenv("GRADER_OPENAI_API_KEY")
	}
	effort := s.ReasoningEffort
	switch effort {
	case "none":
		effort = ""
	case "auto":
		effort = ""
		if len(s.Model) > 1 && s.Model[0] == 'o' && s.Model[1] >= '1' && s.Model[1] <= '9' {
			effort = "high" // the official judge: o3-mini with reasoning_effort high
		}
	}
	retries := s.MaxRetries
	if retries == 0 {
		retries = -1 // llm.Config reads 0 as the default
	}
	return llm.New(llm.Config{BaseURL: s.BaseURL, APIKey: key, Model: s.Model, ReasoningEffort: effort,
		MaxRetries: retries, RequestTimeout: s.RequestTimeout, MaxConns: s.Concurrency, MaxConcurrent: s.Concurrency})
}

// judgePrices returns the price table with the price settings (negative: unset) applied
// to the judge model.
func judgePrices(s judgeSettings) map[string]judge.Price {
	if s.PriceIn < 0 && s.PriceOut < 0 {
		return judge.DefaultPrices
	}
	prices := maps.Clone(judge.DefaultPrices)
	p, _ := judge.PriceOf(prices, s.Model)
	if s.PriceIn >= 0 {
		p.In = s.PriceIn
	}
	if s.PriceOut >= 0 {
		p.Out = s.PriceOut
	}
	prices[s.Model] = p
	return prices
}

func summarize(out string, g judge.Grader, r *judge.Report, prices map[string]judge.Price, took time.Duration) gradeSummary {
	s := gradeSummary{Out: out, Judge: g.Type(), Score: r.Score, Leaves: r.Leaves, FailedLeaves: r.FailedLeaves, Resumed: r.Resumed,
		Usage: r.Usage, Seconds: took.Seconds()}
	s.CostUSD, s.Unpriced = r.Usage.Cost(prices)
	rubric.Walk(r.Tree, func(p rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() && !n.Grade.Valid {
			s.InvalidLeaves = append(s.InvalidLeaves, invalidLeaf{p.String(), n.ID, n.Grade.Explanation})
		}
		return true
	})
	if simple, ok := g.(*judge.Simple); ok {
		for _, k := range simple.Skipped() {
			s.Skipped = append(s.Skipped, skippedEntry{k.Path, k.Reason})
		}
	}
	return s
}

func printSummary(w io.Writer, s gradeSummary, asJSON bool) error {
	if asJSON {
		return writeJSON(w, s)
	}
	total := s.Usage.Total()
	failed := ""
	if s.FailedLeaves > 0 {
		failed = fmt.Sprintf(" (%d failed to grade)", s.FailedLeaves)
	}
	fmt.Fprintf(w, "%s: score %s (%s judge), %d leaves, %d invalid%s, %d resumed from the journal\n",
		s.Out, formatScore(s.Score), s.Judge, s.Leaves, len(s.InvalidLeaves), failed, s.Resumed)
	fmt.Fprintf(w, "tokens: %d in, %d out; cost $%.4f", total.In, total.Out, s.CostUSD)
	if len(s.Unpriced) > 0 {
		fmt.Fprintf(w, " (no price for %v)", s.Unpriced)
	}
	fmt.Fprintf(w, "; %.1f s\n", s.Seconds)
	const shown = 20
	for i, l := range s.InvalidLeaves {
		if i == shown {
			fmt.Fprintf(w, "  … and %d more invalid leaves\n", len(s.InvalidLeaves)-shown)
			break
		}
		fmt.Fprintf(w, "  invalid %s (%s): %s\n", l.Path, l.ID, l.Explanation)
	}
	for _, k := range s.Skipped {
		fmt.Fprintf(w, "  not read: %s: %s\n", k.Path, k.Reason)
	}
	return nil
}
