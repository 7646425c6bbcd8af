package rubric

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// readmeRow is one paper's line of the counts table in the fixtures' README.
type readmeRow struct {
	nodes, leaves, depth, codeDev, codeExec, resultAnalysis, bytes int
}

// readmeCounts reads the per-paper counts table of fixtures/paperbench/README.md, the
// independent source the rubric statistics are checked against.
func readmeCounts(t *testing.T) map[string]readmeRow {
	f, err := os.Open(fixtures.Path(t, "paperbench", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]readmeRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		if len(cells) != 10 {
			continue
		}
		var nums [7]int
		ok := true
		for i := range nums {
			nums[i], err = strconv.Atoi(strings.TrimSpace(cells[i+1]))
			ok = ok && err == nil
		}
		if ok {
			rows[strings.TrimSpace(cells[0])] = readmeRow{nums[0], nums[1], nums[2], nums[3], nums[4], nums[5], nums[6]}
		}
	}
	if len(rows) != 23 {
		t.Fatalf("found %d paper rows in the README counts table, want 23", len(rows))
	}
	return rows
}

func TestOfficialRubricsValidateAndMatchREADME(t *testing.T) {
	papers := fixtures.Path(t, "paperbench", "papers")
	for name, want := range readmeCounts(t) {
		path := filepath.Join(papers, name, "rubric.json")
		root, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s := StatsOf(root)
		got := readmeRow{s.Nodes, s.Leaves, s.MaxDepth, s.LeavesByCategory[CodeDevelopment],
			s.LeavesByCategory[CodeExecution], s.LeavesByCategory[ResultAnalysis], fileSize(t, path)}
		if got != want {
			t.Errorf("%s: got %+v, README says %+v", name, got, want)
		}
	}
}

func TestMainSetTotals(t *testing.T) {
	split, err := os.ReadFile(fixtures.Path(t, "paperbench", "splits", "all.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var total Stats
	for _, name := range strings.Fields(string(split)) {
		root, err := Load(fixtures.Path(t, "paperbench", "papers", name, "rubric.json"))
		if err != nil {
			t.Fatal(err)
		}
		total.Add(StatsOf(root))
	}
	// Figures of the PaperBench paper and the fixtures' README for the 20 main papers.
	want := map[string]int{"nodes": 11218, "leaves": 8316, CodeDevelopment: 3671, CodeExecution: 4079, ResultAnalysis: 566}
	got := map[string]int{"nodes": total.Nodes, "leaves": total.Leaves}
	for _, c := range Categories {
		got[c] = total.LeavesByCategory[c]
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %d, want %d", k, got[k], w)
		}
	}
	if total.MaxDepth != 9 || total.MaxWeight != 20 || total.MinWeight != 1 || total.ZeroWeights != 0 {
		t.Errorf("depth %d, weights [%v, %v], %d zero: want 9, [1, 20], 0",
			total.MaxDepth, total.MinWeight, total.MaxWeight, total.ZeroWeights)
	}
}

func fileSize(t *testing.T, path string) int {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Size())
}

// judgeEvalTrees returns the paths of the five human-graded JudgeEval trees.
func judgeEvalTrees(t *testing.T) []string {
	paths, err := filepath.Glob(filepath.Join(fixtures.Path(t, "paperbench", "judge_eval"), "*", "0", "grading", "expected_result.json"))
	if err != nil || len(paths) != 5 {
		t.Fatalf("found %d JudgeEval trees (%v), want 5", len(paths), err)
	}
	return paths
}

func TestJudgeEvalScoresRecomputeExactly(t *testing.T) {
	for _, path := range judgeEvalTrees(t) {
		root, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]float64{}
		Walk(root, func(p Path, n *Node) bool {
			stored[p.String()] = n.Grade.Score
			return true
		})
		rootScore, err := Score(root)
		if err != nil {
			t.Fatal(err)
		}
		if rootScore != stored["root"] {
			t.Errorf("%s: recomputed root %v, stored %v", path, rootScore, stored["root"])
		}
		Walk(root, func(p Path, n *Node) bool {
			if n.Grade.Score != stored[p.String()] || !n.Grade.Valid {
				t.Errorf("%s %s: recomputed %v (valid %v), stored %v", path, p, n.Grade.Score, n.Grade.Valid, stored[p.String()])
			}
			return true
		})
	}
}

// TestOfficialFilesRoundTrip checks that writing what was read reproduces every official
// file byte for byte (they were written by Python's json.dump with indent=4), except that
// valid_score is always written as a boolean where pinn's tree has 1.0.
func TestOfficialFilesRoundTrip(t *testing.T) {
	rubrics, _ := filepath.Glob(filepath.Join(fixtures.Path(t, "paperbench", "papers"), "*", "rubric.json"))
	for _, path := range append(rubrics, judgeEvalTrees(t)...) {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want = bytes.ReplaceAll(want, []byte(`"valid_score": 1.0`), []byte(`"valid_score": true`))
		root, err := Parse(bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := Write(&got, root); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSuffix(got.Bytes(), []byte("\n")), bytes.TrimSuffix(want, []byte("\n"))) {
			t.Errorf("%s: written JSON differs from the file (%d vs %d bytes)", path, got.Len(), len(want))
		}
	}
}

func TestUnitFixtureRubrics(t *testing.T) {
	dir := fixtures.Path(t, "paperbench", "unit_fixtures", "rubrics")
	want := map[string][2]int{"trivial": {1, 1}, "impossible": {1, 1}, "empty": {1, 1}, "hex_flag": {1, 1},
		"hex_flags": {6, 5}, "nested_hex_flags": {10, 5}, "hex_flag_context": {3, 1}}
	for name, counts := range want {
		root, err := Load(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s := StatsOf(root); s.Nodes != counts[0] || s.Leaves != counts[1] {
			t.Errorf("%s: %d nodes / %d leaves, want %d / %d", name, s.Nodes, s.Leaves, counts[0], counts[1])
		}
	}
}
