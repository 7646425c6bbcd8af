package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rubric"
)

// runCLI runs the paperbench command line in-process and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCLIContext(context.Background(), args...)
}

// runCLIContext is runCLI under ctx (cancel it to act as Ctrl-C).
func runCLIContext(ctx context.Context, args ...string) (string, error) {
	resetFlags(rootCmd)
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.ExecuteContext(ctx)
	return out.String(), err
}

// resetFlags puts every flag of cmd and its subcommands back to its default, and drops the
// context cobra keeps on a subcommand from its first run (so the next run's context reaches it).
func resetFlags(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		c.SetContext(nil)
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				sv.Replace(nil)
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
		resetFlags(c)
	}
}

func TestValidateFixtures(t *testing.T) {
	root := fixtures.Path(t, "paperbench")
	rice := filepath.Join(root, "papers", "rice")
	trivial := filepath.Join(root, "unit_fixtures", "rubrics", "trivial.json")
	out, err := runCLI(t, "validate", root, rice, trivial)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"ok " + root + "\n", "ok " + rice + "\n", "ok " + trivial + "\n",
		`stochastic-interpolants/config.yaml: warning: id "stochastic-interpolant" differs`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestValidateListsEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"id": "a", "requirements": "r", "weight": 1, "task_category": "Code Development", "sub_tasks": [
		{"id": "b", "requirements": "", "weight": "2", "sub_tasks": []}]}`), 0o644)
	good := fixtures.Path(t, "paperbench", "unit_fixtures", "rubrics", "hex_flags.json")
	out, err := runCLI(t, "validate", bad, good)
	if err == nil || err.Error() != "validate: 4 errors in 1 of 2 paths" {
		t.Errorf("error %v", err)
	}
	for _, want := range []string{
		bad + ": error: root: task_category: inner node (1 sub-tasks) must have no category",
		bad + `: error: root/0: weight: must be a number, got string "2"`,
		bad + ": error: root/0: requirements: is empty",
		bad + ": error: root/0: task_category: leaf must have a category",
		"ok " + good,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, "validate", dir); err == nil || !strings.Contains(err.Error(), "neither a rubric file") {
		t.Errorf("folder without rubric: %v", err)
	}
}

func TestStatsJSONOverTheMainSplit(t *testing.T) {
	papers := fixtures.Path(t, "paperbench", "papers")
	split, err := os.ReadFile(fixtures.Path(t, "paperbench", "splits", "all.txt"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"stats", "--json"}
	for _, id := range strings.Fields(string(split)) {
		args = append(args, filepath.Join(papers, id))
	}
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rubrics []struct{ Name string }
		Total   rubric.Stats
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := got.Total.LeavesByCategory
	if len(got.Rubrics) != 20 || got.Total.Leaves != 8316 || c[rubric.CodeDevelopment] != 3671 ||
		c[rubric.CodeExecution] != 4079 || c[rubric.ResultAnalysis] != 566 {
		t.Errorf("%d rubrics, totals %+v", len(got.Rubrics), got.Total)
	}
}

func TestStatsTable(t *testing.T) {
	out, err := runCLI(t, "stats", fixtures.Path(t, "paperbench", "papers", "bam"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(strings.Split(out, "\n")[1])
	if strings.Join(fields, " ") != "bam 1021 789 9 255 518 16 1–4" {
		t.Errorf("bam line %q", fields)
	}
}

func TestScoreJudgeEvalTree(t *testing.T) {
	path := fixtures.Path(t, "paperbench", "judge_eval", "all-in-one", "0", "grading", "expected_result.json")
	out, err := runCLI(t, "score", path)
	if err != nil {
		t.Fatal(err)
	}
	want := path + ": score 0.7139351851851852 (stored 0.7139351851851852), valid true; 174 leaves, 0 invalid; 0 of 60 inner scores changed\n"
	if out != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
}

func TestScoreJSONWithInvalidLeaf(t *testing.T) {
	tree, err := rubric.Load(fixtures.Path(t, "paperbench", "judge_eval", "semantic-self-consistency", "0", "grading", "expected_result.json"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := tree.At(rubric.Leaves(tree)[0])
	leaf.Grade.Valid, leaf.Grade.Score = false, 0
	path := filepath.Join(t.TempDir(), "graded.json")
	if err := rubric.WriteFile(path, tree); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "score", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var got scoreReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Valid || got.InvalidLeaves != 1 || got.Leaves != 79 || got.ChangedInner == 0 || got.Score >= got.StoredScore {
		t.Errorf("report %+v", got)
	}
	if _, err := runCLI(t, "score", fixtures.Path(t, "paperbench", "papers", "rice", "rubric.json")); err == nil ||
		!strings.Contains(err.Error(), "not a graded tree") {
		t.Errorf("scoring a plain rubric: %v", err)
	}
}
