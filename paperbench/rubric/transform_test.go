package rubric

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func leaf(id, category, finegrained string, weight float64) *Node {
	return &Node{ID: id, Requirements: "requirement " + id, Weight: weight, TaskCategory: category, FinegrainedCategory: finegrained}
}

func inner(id string, weight float64, children ...*Node) *Node {
	return &Node{ID: id, Requirements: "requirement " + id, Weight: weight, SubTasks: children}
}

// sampleTree is the example of the official get_prior_nodes docstring, with categories:
//
//	A
//	├── B
//	│   ├── D  Code Development
//	│   └── E  Code Execution, Dataset and Model Acquisition, weight 2
//	└── C      weight 3
//	    ├── F  Result Analysis   (id "dup")
//	    └── G  Code Development, Dataset and Model Acquisition  (id "dup")
func sampleTree() *Node {
	return inner("A", 1,
		inner("B", 1, leaf("D", CodeDevelopment, "Method Implementation", 1), leaf("E", CodeExecution, DatasetAndModelAcquisition, 2)),
		inner("C", 3, leaf("dup", ResultAnalysis, "", 1), leaf("dup", CodeDevelopment, DatasetAndModelAcquisition, 1)))
}

// shape prints a tree as "id(weight,category)[children]" for compact comparisons.
func shape(n *Node) string {
	if n == nil {
		return "nil"
	}
	s := n.ID
	if n.Weight != 1 || n.TaskCategory != "" {
		s += "(" + strings.TrimSuffix(strings.TrimPrefix(pythonWeight(n.Weight)+","+n.TaskCategory, "1,"), ",") + ")"
	}
	if !n.IsLeaf() {
		parts := make([]string, len(n.SubTasks))
		for i, c := range n.SubTasks {
			parts[i] = shape(c)
		}
		s += "[" + strings.Join(parts, " ") + "]"
	}
	return s
}

func pythonWeight(w float64) string {
	s, _ := pythonNumber(w, true)
	return s
}

func TestTransformsLeaveInputUnchanged(t *testing.T) {
	tree := sampleTree()
	before := shape(tree)
	CodeOnly(tree)
	ResourcesProvided(tree)
	PruneToDepth(tree, 1)
	if after := shape(tree); after != before {
		t.Errorf("input changed from %s to %s", before, after)
	}
}

func TestCodeOnly(t *testing.T) {
	got := shape(CodeOnly(sampleTree()))
	if want := "A[B[D(Code Development)] C(3)[dup(Code Development)]]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	noCode := inner("A", 1, inner("B", 1, leaf("E", CodeExecution, "", 1)), leaf("F", ResultAnalysis, "", 1))
	if c := CodeOnly(noCode); c != nil {
		t.Errorf("tree without Code Development leaves reduced to %s, want nil", shape(c))
	}
	if err := Validate(CodeOnly(sampleTree())); err != nil {
		t.Error(err)
	}
}

func TestResourcesProvided(t *testing.T) {
	got := shape(ResourcesProvided(sampleTree()))
	want := "A[B[D(Code Development) E(0,Code Execution)] C(3)[dup(Result Analysis) dup(0,Code Development)]]"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPruneToDepth(t *testing.T) {
	for depth, want := range []string{
		"A(Subtree)",
		"A[B(Subtree) C(3,Subtree)]",
		shape(sampleTree()),
		shape(sampleTree()),
	} {
		pruned := PruneToDepth(sampleTree(), depth)
		if got := shape(pruned); got != want {
			t.Errorf("depth %d: got %s, want %s", depth, got, want)
		}
		if err := Validate(pruned); err != nil {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
}

func TestPriorNodes(t *testing.T) {
	tree := sampleTree()
	cases := []struct {
		path Path
		max  int
		want []string
	}{
		{Path{1, 1}, 0, []string{"A", "B", "C", "dup"}}, // the docstring's example: G → A, B, C, F
		{Path{1, 1}, 2, []string{"C", "dup"}},
		{Path{1, 0}, 0, []string{"A", "B", "C"}},
		{Path{0, 1}, 0, []string{"A", "B", "D"}},
		{Path{0}, 0, []string{"A"}},
		{Path{}, 0, nil},
	}
	for _, c := range cases {
		nodes, err := PriorNodes(tree, c.path, c.max)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, n := range nodes {
			ids = append(ids, n.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s max %d: got %v, want %v", c.path, c.max, ids, c.want)
		}
	}
	// The preceding sibling of G is F itself, not a node found by the shared id.
	nodes, _ := PriorNodes(tree, Path{1, 1}, 1)
	if nodes[0] != tree.SubTasks[1].SubTasks[0] {
		t.Error("prior node of root/1/1 is not root/1/0")
	}
	if _, err := PriorNodes(tree, Path{2}, 0); err == nil {
		t.Error("no error for a path outside the tree")
	}
}

// grade gives the leaves of sampleTree the scores D=1, E=0, F=1, G=0.
func gradedSample() *Node {
	tree := sampleTree()
	for i, p := range Leaves(tree) {
		n, _ := tree.At(p)
		n.Grade = &Grade{Score: float64(1 - i%2), Valid: true, Explanation: "judged"}
	}
	return tree
}

func TestScorePropagation(t *testing.T) {
	tree := gradedSample()
	got, err := Score(tree)
	if err != nil {
		t.Fatal(err)
	}
	b, c := (1*1+0*2)/3.0, (1*1+0*1)/2.0
	if want := (b*1 + c*3) / 4; got != want || tree.SubTasks[0].Grade.Score != b || tree.SubTasks[1].Grade.Score != c {
		t.Errorf("root %v (want %v), B %v (want %v), C %v (want %v)", got, want, tree.SubTasks[0].Grade.Score, b, tree.SubTasks[1].Grade.Score, c)
	}
	if !tree.Grade.Valid || tree.Grade.Explanation != AggregatedExplanation {
		t.Errorf("root grade %+v", tree.Grade)
	}
	resources := ResourcesProvided(tree)
	// E and G, the two failed leaves, are the Dataset and Model Acquisition ones.
	if got, _ := Score(resources); got != 1 {
		t.Errorf("resources-provided root %v, want 1", got)
	}
}

func TestInvalidLeafMakesAncestorsInvalid(t *testing.T) {
	tree := gradedSample()
	f, _ := tree.At(Path{1, 0})
	f.Grade = &Grade{Score: 0, Valid: false, Explanation: "judge failed"}
	if _, err := Score(tree); err != nil {
		t.Fatal(err)
	}
	if tree.Grade.Valid || tree.SubTasks[1].Grade.Valid || !tree.SubTasks[0].Grade.Valid {
		t.Errorf("validity root %v, C %v, B %v; want false, false, true",
			tree.Grade.Valid, tree.SubTasks[1].Grade.Valid, tree.SubTasks[0].Grade.Valid)
	}
}

func TestScoreEdgeCases(t *testing.T) {
	zero := inner("A", 1, leaf("B", CodeDevelopment, "", 0), leaf("C", CodeDevelopment, "", 0))
	for _, l := range zero.SubTasks {
		l.Grade = &Grade{Score: 1, Valid: true}
	}
	if got, err := Score(zero); got != 0 || err != nil {
		t.Errorf("weights summing to 0: score %v, %v; want 0", got, err)
	}
	_, err := Score(sampleTree())
	if err == nil || !strings.Contains(err.Error(), "root/0/0: score: leaf has no grade") {
		t.Errorf("ungraded leaves: error %v", err)
	}
}

func TestWriteFileGradedRoundTrip(t *testing.T) {
	tree := gradedSample()
	tree.SubTasks[0].SubTasks[0].Grade.JudgeMetadata = []byte(`{"full_judge_response": "<b>ok</b> é", "n": [1, 2]}`)
	Score(tree)
	path := filepath.Join(t.TempDir(), "grader_output.json")
	if err := WriteFile(path, tree); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{
		`"finegrained_task_category": "Method Implementation",`,
		"\"judge_metadata\": {\n", `"full_judge_response": "<b>ok</b> \u00e9",`,
		`"score": 0.5,`, `"weight": 2,`,
	} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, data)
		}
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	Write(&again, back)
	if !bytes.Equal(again.Bytes(), data) {
		t.Error("reading and writing the output again changed it")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestPythonNumbers(t *testing.T) {
	for f, want := range map[float64]string{0: "0.0", 1: "1.0", 0.5: "0.5", 1e-05: "1e-05", 0.0001: "0.0001",
		1e16: "1e+16", 1234567: "1234567.0", 2.0 / 3: "0.6666666666666666", 1.5e300: "1.5e+300"} {
		if got, _ := pythonNumber(f, false); got != want {
			t.Errorf("pythonNumber(%v) = %s, want %s", f, got, want)
		}
	}
	if got, _ := pythonNumber(20, true); got != "20" {
		t.Errorf("integral weight written as %s", got)
	}
	if _, err := pythonNumber(math.NaN(), false); err == nil {
		t.Error("NaN accepted")
	}
}

func TestPaths(t *testing.T) {
	p, err := ParsePath("root/3/0/2")
	if err != nil || !slices.Equal(p, Path{3, 0, 2}) || p.String() != "root/3/0/2" {
		t.Errorf("ParsePath: %v %v", p, err)
	}
	for _, bad := range []string{"", "3/0", "root/x", "root/-1", "root/"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
	if _, err := sampleTree().At(Path{0, 5}); err == nil || !strings.Contains(err.Error(), "node root/0 has 2 sub-tasks") {
		t.Errorf("At outside the tree: %v", err)
	}
}
