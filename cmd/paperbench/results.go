package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/rubric"
)

var resultsCmd = &cobra.Command{
	Use: "results DIR...",
	Example: `  paperbench results runs/run-group_basic
  paperbench results runs/run-group_basic runs/run-group_iterative --json`,
	Short: "Aggregate a run group's scores: ARS mean ± SE over complete seeds, per paper and category",
	Long: `Results reads OUT/<run-group> folders written by 'paperbench run' (or OUT, holding
several groups) and reports, per run group: the average replication score (ARS, the mean
over papers of the root score) of every seed, the mean and standard error over the
complete seeds (seeds graded for every paper), each paper's mean and standard error over
its graded seeds, the same per task category, the incomplete seeds with what they lack,
and the tokens and cost of the agents and the judge.

Seeds are the seed folders of the run group, never the order runs finished in, and run
groups are never mixed (the official #140 and #149 bugs). --json prints the official
summary's names (metrics.mean_score, std_err, n_complete_tries, mean_score_by_paper,
run_health).`,
	Args: cobra.MinimumNArgs(1),
	RunE: runResults,
}

func init() {
	resultsCmd.Flags().Bool("json", false, "print JSON")
	rootCmd.AddCommand(resultsCmd)
}

// groupResults is the summary of one run group.
type groupResults struct {
	RunGroupID      string              `json:"run_group_id"`
	Dir             string              `json:"dir"`
	Params          map[string]any      `json:"params"`
	Metrics         metrics             `json:"metrics"`
	ScoreByCategory map[string]meanSE   `json:"mean_score_by_task_category"`
	RunHealth       runHealth           `json:"run_health"`
	Incomplete      []incompleteSeed    `json:"incomplete_seeds"`
	Cost            costSummary         `json:"cost"`
	SeedScores      map[string]*float64 `json:"ars_by_seed"`
}

type metrics struct {
	MeanScore      *float64              `json:"mean_score"`
	StdErr         *float64              `json:"std_err"`
	NCompleteTries int                   `json:"n_complete_tries"`
	ByPaper        map[string]paperScore `json:"mean_score_by_paper"`
}

type meanSE struct {
	Mean   *float64 `json:"mean"`
	StdErr *float64 `json:"std_err"`
	N      int      `json:"n"`
}

// paperScore is a paper's mean over its graded seeds; Runs holds run_1..run_N by seed.
type paperScore struct {
	meanSE
	Runs map[string]*float64
}

func (p paperScore) MarshalJSON() ([]byte, error) {
	m := map[string]any{"mean": p.Mean, "std_err": p.StdErr, "n_runs": p.N}
	for k, v := range p.Runs {
		m[k] = v
	}
	return json.Marshal(m)
}

func (p *paperScore) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	p.Runs = map[string]*float64{}
	for k, v := range m {
		var err error
		switch {
		case k == "mean":
			err = json.Unmarshal(v, &p.Mean)
		case k == "std_err":
			err = json.Unmarshal(v, &p.StdErr)
		case k == "n_runs":
			err = json.Unmarshal(v, &p.N)
		default:
			var f *float64
			err = json.Unmarshal(v, &f)
			p.Runs[k] = f
		}
		if err != nil {
			return fmt.Errorf("mean_score_by_paper %s: %w", k, err)
		}
	}
	return nil
}

type runHealth struct {
	RolloutsFailed      int `json:"n_rollouts_failed"`
	ReproductionsFailed int `json:"n_reproductions_failed"`
	GradingsFailed      int `json:"n_gradings_failed"`
	Flagged             int `json:"n_flagged_by_monitor"`
}

type incompleteSeed struct {
	Seed    int      `json:"seed"`
	Missing []string `json:"missing_papers"`
}

type costSummary struct {
	AgentCalls   int     `json:"agent_model_calls"`
	AgentIn      int64   `json:"agent_tokens_in"`
	AgentOut     int64   `json:"agent_tokens_out"`
	AgentCostUSD float64 `json:"agent_cost_usd"`
	JudgeIn      int64   `json:"judge_tokens_in"`
	JudgeOut     int64   `json:"judge_tokens_out"`
	JudgeCostUSD float64 `json:"judge_cost_usd"`
}

func runResults(cmd *cobra.Command, args []string) error {
	var groups []string
	for _, a := range args {
		if _, err := os.Stat(filepath.Join(a, runFile)); err == nil {
			groups = append(groups, a)
			continue
		}
		es, err := os.ReadDir(a)
		if err != nil {
			return fmt.Errorf("results: %w", err)
		}
		n := len(groups)
		for _, e := range es {
			if _, err := os.Stat(filepath.Join(a, e.Name(), runFile)); e.IsDir() && err == nil {
				groups = append(groups, filepath.Join(a, e.Name()))
			}
		}
		if len(groups) == n {
			return fmt.Errorf("results: %s holds no run group (no %s in it or its folders)", a, runFile)
		}
	}
	var all []*groupResults
	for _, g := range groups {
		res, err := aggregateGroup(g)
		if err != nil {
			return err
		}
		all = append(all, res)
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	for _, g := range all {
		printGroup(cmd.OutOrStdout(), g)
	}
	return nil
}

// jobScores is what one paper × seed left.
type jobScores struct {
	score      float64
	categories map[string]float64
}

// aggregateGroup reads every job of the group.
func aggregateGroup(dir string) (*groupResults, error) {
	spec, err := readGroupSpec(dir)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	res := &groupResults{RunGroupID: spec.RunGroup, Dir: dir}
	res.Params = map[string]any{"n_tries": spec.Seeds, "n_samples": len(spec.Papers), "agent": spec.Agent,
		"model": spec.Model, "judge": spec.Judge, "code_only": spec.CodeOnly}
	scores := map[string]map[int]jobScores{} // paper -> seed -> scores
	for _, p := range spec.Papers {
		scores[p.ID] = map[int]jobScores{}
		for seed := 1; seed <= spec.Seeds; seed++ {
			js, err := readJob(filepath.Join(dir, p.ID, strconv.Itoa(seed)), p.Dir, spec.CodeOnly, res)
			if err != nil {
				return nil, fmt.Errorf("results: %s seed %d: %w", p.ID, seed, err)
			}
			if js != nil {
				scores[p.ID][seed] = *js
			}
		}
	}
	res.summarize(spec, scores)
	return res, nil
}

// readJob adds a job's costs and health to res and returns its scores, or nil when it was
// not graded.
func readJob(dir, paperDir string, codeOnly bool, res *groupResults) (*jobScores, error) {
	st, err := agent.ReadStatus(filepath.Join(dir, "rollout"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		res.RunHealth.RolloutsFailed++
		return nil, nil
	case err != nil:
		return nil, err
	}
	res.Cost.AgentCalls += st.Calls
	res.Cost.AgentIn += st.Usage.In
	res.Cost.AgentOut += st.Usage.Out
	res.Cost.AgentCostUSD += st.CostUSD
	if st.Status != "done" {
		res.RunHealth.RolloutsFailed++
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, reproductionDir, reproErrorFile)); err == nil {
		res.RunHealth.ReproductionsFailed++
	}
	b, err := os.ReadFile(filepath.Join(dir, gradeFile))
	if errors.Is(err, os.ErrNotExist) {
		res.RunHealth.GradingsFailed++
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var g gradeResult
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, gradeFile), err)
	}
	total := g.JudgeUsage.Total()
	res.Cost.JudgeIn += total.In
	res.Cost.JudgeOut += total.Out
	res.Cost.JudgeCostUSD += g.JudgeCostUSD
	if g.PaperBenchResult.monitorFlagged() {
		res.RunHealth.Flagged++
		return flaggedScores(paperDir, codeOnly)
	}
	tree, err := rubric.Load(filepath.Join(dir, graderOutputFile))
	if err != nil {
		return nil, err
	}
	return &jobScores{score: g.Score, categories: categoryScores(tree)}, nil
}

// flaggedScores are the scores of a run the monitor flagged: 0 for the run and for each
// category of the paper's rubric.
func flaggedScores(paperDir string, codeOnly bool) (*jobScores, error) {
	root, err := runRubric(paperDir, codeOnly)
	if err != nil {
		return nil, err
	}
	js := &jobScores{categories: map[string]float64{}}
	rubric.Walk(root, func(_ rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() {
			js.categories[n.TaskCategory] = 0
		}
		return true
	})
	return js, nil
}

// categoryScores scores the graded tree restricted to each task category's leaves.
func categoryScores(tree *rubric.Node) map[string]float64 {
	out := map[string]float64{}
	for _, c := range []string{rubric.CodeDevelopment, rubric.CodeExecution, rubric.ResultAnalysis} {
		if s, ok := categoryScore(tree, c); ok {
			out[c] = s
		}
	}
	return out
}

// categoryScore is the weighted mean over the children that hold leaves of the category.
func categoryScore(n *rubric.Node, cat string) (float64, bool) {
	if n.IsLeaf() {
		if n.TaskCategory != cat || n.Grade == nil {
			return 0, false
		}
		return n.Grade.Score, true
	}
	var sum, weight float64
	found := false
	for _, c := range n.SubTasks {
		if s, ok := categoryScore(c, cat); ok {
			sum, weight, found = sum+s*c.Weight, weight+c.Weight, true
		}
	}
	if !found {
		return 0, false
	}
	if weight == 0 {
		return 0, true
	}
	return sum / weight, true
}

// summarize computes the metrics from the scores keyed by paper and seed.
func (res *groupResults) summarize(spec groupSpec, scores map[string]map[int]jobScores) {
	res.Metrics.ByPaper = map[string]paperScore{}
	for _, p := range spec.Papers {
		ps := paperScore{Runs: map[string]*float64{}}
		var xs []float64
		for seed := 1; seed <= spec.Seeds; seed++ {
			if js, ok := scores[p.ID][seed]; ok {
				xs = append(xs, js.score)
				ps.Runs["run_"+strconv.Itoa(seed)] = ptr(js.score)
			} else {
				ps.Runs["run_"+strconv.Itoa(seed)] = nil
			}
		}
		ps.meanSE = meanAndSE(xs)
		res.Metrics.ByPaper[p.ID] = ps
	}
	res.SeedScores = map[string]*float64{}
	var ars []float64
	byCat := map[string][]float64{}
	for seed := 1; seed <= spec.Seeds; seed++ {
		var missing []string
		var sum float64
		catSum := map[string][]float64{}
		for _, p := range spec.Papers {
			js, ok := scores[p.ID][seed]
			if !ok {
				missing = append(missing, p.ID)
				continue
			}
			sum += js.score
			for c, v := range js.categories {
				catSum[c] = append(catSum[c], v)
			}
		}
		key := "seed_" + strconv.Itoa(seed)
		if len(missing) > 0 {
			res.Incomplete = append(res.Incomplete, incompleteSeed{Seed: seed, Missing: missing})
			res.SeedScores[key] = nil
			continue
		}
		a := sum / float64(len(spec.Papers))
		ars = append(ars, a)
		res.SeedScores[key] = ptr(a)
		for c, vs := range catSum {
			byCat[c] = append(byCat[c], mean(vs))
		}
	}
	m := meanAndSE(ars)
	res.Metrics.MeanScore, res.Metrics.StdErr, res.Metrics.NCompleteTries = m.Mean, m.StdErr, m.N
	res.ScoreByCategory = map[string]meanSE{}
	for c, vs := range byCat {
		res.ScoreByCategory[c] = meanAndSE(vs)
	}
	if res.Incomplete == nil {
		res.Incomplete = []incompleteSeed{}
	}
}

func ptr(f float64) *float64 { return &f }

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// meanAndSE returns the mean and the standard error (sample standard deviation over √n);
// the mean is null without values and the error is null below two.
func meanAndSE(xs []float64) meanSE {
	r := meanSE{N: len(xs)}
	if len(xs) == 0 {
		return r
	}
	m := mean(xs)
	r.Mean = &m
	if len(xs) < 2 {
		return r
	}
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	se := math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
	r.StdErr = &se
	return r
}

func pct(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", *p*100)
}

func printGroup(w io.Writer, g *groupResults) {
	fmt.Fprintf(w, "run group %s (%s)\n", g.RunGroupID, g.Dir)
	fmt.Fprintf(w, "ARS %s ± %s %% over %d complete seed(s)\n", pct(g.Metrics.MeanScore), pct(g.Metrics.StdErr), g.Metrics.NCompleteTries)
	papers := make([]string, 0, len(g.Metrics.ByPaper))
	for p := range g.Metrics.ByPaper {
		papers = append(papers, p)
	}
	slices.Sort(papers)
	fmt.Fprintf(w, "%-44s %8s %8s %6s\n", "paper", "mean %", "SE %", "runs")
	for _, p := range papers {
		s := g.Metrics.ByPaper[p]
		fmt.Fprintf(w, "%-44s %8s %8s %6d\n", p, pct(s.Mean), pct(s.StdErr), s.N)
	}
	for _, c := range []string{rubric.CodeDevelopment, rubric.CodeExecution, rubric.ResultAnalysis} {
		if s, ok := g.ScoreByCategory[c]; ok {
			fmt.Fprintf(w, "category %-20s %s ± %s %%\n", c, pct(s.Mean), pct(s.StdErr))
		}
	}
	for _, s := range g.Incomplete {
		fmt.Fprintf(w, "incomplete seed %d: missing %v\n", s.Seed, s.Missing)
	}
	h := g.RunHealth
	fmt.Fprintf(w, "health: %d rollouts, %d reproductions, %d gradings failed or unfinished; %d runs flagged by the monitor\n",
		h.RolloutsFailed, h.ReproductionsFailed, h.GradingsFailed, h.Flagged)
	c := g.Cost
	fmt.Fprintf(w, "agent: %d calls, %d in / %d out tokens, $%.4f; judge: %d in / %d out tokens, $%.4f\n",
		c.AgentCalls, c.AgentIn, c.AgentOut, c.AgentCostUSD, c.JudgeIn, c.JudgeOut, c.JudgeCostUSD)
}
