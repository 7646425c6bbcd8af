package rubric

import (
	"errors"
	"strings"
	"testing"
)

// leafJSON is a valid leaf with the given weight literal.
func leafJSON(id, weight string) string {
	return `{"id": "` + id + `", "requirements": "r", "weight": ` + weight + `, "sub_tasks": [], "task_category": "Code Development"}`
}

// parseIssues parses doc and returns its issues, failing when the error is of another type.
func parseIssues(t *testing.T, lim Limits, doc string) (*Node, Issues) {
	t.Helper()
	root, err := lim.Parse(strings.NewReader(doc))
	var issues Issues
	if err != nil && !errors.As(err, &issues) {
		t.Fatalf("error %v (%T) is not Issues", err, err)
	}
	return root, issues
}

func wantIssues(t *testing.T, issues Issues, want ...string) {
	t.Helper()
	if len(issues) != len(want) {
		t.Fatalf("got %d issues, want %d:\n%v", len(issues), len(want), issues)
	}
	for i, w := range want {
		if !strings.Contains(issues[i].Error(), w) {
			t.Errorf("issue %d = %q, want it to contain %q", i, issues[i].Error(), w)
		}
	}
}

func TestValidationReportsEveryIssueWithItsPath(t *testing.T) {
	doc := `{"id": "a", "requirements": "", "weight": -1, "task_category": "Code Development", "sub_tasks": [
		` + leafJSON("b", `"3"`) + `,
		{"id": "c", "requirements": "r", "weight": 1, "sub_tasks": [], "task_category": "Cooking"},
		{"id": "d", "requirements": "r", "weight": 1, "sub_tasks": []},
		{"id": "e", "requirements": "r", "weight": 1e999, "sub_tasks": [], "task_category": "Result Analysis",
		 "finegrained_task_category": "Vibes"},
		{"requirements": "r", "weight": 1, "sub_tasks": "none", "task_category": "Code Execution"},
		"not a node"
	]}`
	root, issues := parseIssues(t, DefaultLimits, doc)
	if root == nil || len(root.SubTasks) != 5 {
		t.Fatalf("tree not returned with its 5 readable children: %+v", root)
	}
	wantIssues(t, issues,
		"root: weight: must be a finite number ≥ 0, got -1",
		"root: requirements: is empty",
		`root: task_category: inner node (5 sub-tasks) must have no category, got "Code Development"`,
		`root/0: weight: must be a number, got string "3"`,
		`root/1: task_category: unknown category "Cooking"`,
		"root/2: task_category: leaf must have a category",
		"root/3: weight: number 1e999 is out of range",
		`root/3: finegrained_task_category: unknown category "Vibes"`,
		"root/4: sub_tasks: must be an array, got string",
		"root/4: id: missing required field",
		"root/5: a node must be a JSON object, got string",
	)
}

func TestHostileJSON(t *testing.T) {
	small := Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxString: 1 << 10, MaxNodes: 100}
	deepTree := strings.Repeat(`{"sub_tasks": [`, 100000) + strings.Repeat(`]}`, 100000)
	deepValue := `{"id": "x", "judge_metadata": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	manyNodes := `{"id": "x", "sub_tasks": [` + strings.Repeat(leafJSON("y", "1")+",", 200) + leafJSON("y", "1") + `]}`
	cases := []struct{ name, doc, want string }{
		{"deep tree", deepTree, "root/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0: line 1, column 976: tree deeper than the limit of 64 levels"},
		{"deep nesting in metadata", deepValue, "value nested deeper than the limit of 64 levels"},
		{"deep nesting at top", strings.Repeat("[", 100000), "root: line 1, column 66: value nested deeper than the limit of 64 levels"},
		{"huge string", `{"id": "` + strings.Repeat("x", 5000) + `"}`, "root: id: line 1, column 1034: string longer than the limit of 1024 bytes"},
		{"huge document", leafJSON(strings.Repeat("x", 1000), "1") + strings.Repeat(" ", 2<<20), "document larger than the limit of 1048576 bytes"},
		{"too many nodes", manyNodes, "more than the limit of 100 nodes"},
		{"NaN literal", leafJSON("x", "NaN"), `root: weight: line 1, column 44: unexpected 'N' where a value should be`},
		{"bare word", `{"id": nul}`, `invalid literal "nul"`},
		{"bad number", leafJSON("x", "01"), `invalid number "01"`},
		{"unterminated", `{"id": "x`, "unexpected end of input"},
		{"trailing data", leafJSON("x", "1") + ` {}`, `unexpected '{' after the root node`},
		{"bad escape", `{"id": "\q"}`, `invalid escape \q`},
		{"control char", "{\"id\": \"a\x01\"}", "control character 0x1 in string"},
		{"invalid utf-8", "{\"id\": \"\xff\"}", "string is not valid UTF-8"},
		{"empty", ``, "unexpected end of input"},
	}
	for _, c := range cases {
		root, issues := parseIssues(t, small, c.doc)
		if root != nil || len(issues) != 1 || !strings.Contains(issues[0].Error(), c.want) {
			t.Errorf("%s: got tree %v, issues %v; want one issue containing %q", c.name, root != nil, issues, c.want)
		}
	}
}

func TestStringsDecodeLikeJSON(t *testing.T) {
	doc := `{"id": "\u00e9\ud83d\ude00\ud800x\/\"\\\n", "requirements": "\u2028r", "weight": 2.5e0, "sub_tasks": [], "task_category": "Code Execution",
		"unknown": {"nested": [1, "two", null, true]}}`
	root, issues := parseIssues(t, DefaultLimits, doc)
	if len(issues) != 0 {
		t.Fatal(issues)
	}
	if root.ID != "é😀\uFFFDx/\"\\\n" || root.Requirements != "\u2028r" || root.Weight != 2.5 {
		t.Errorf("decoded %q %q %v", root.ID, root.Requirements, root.Weight)
	}
}

func TestGradedTreeFieldsAndMixedTrees(t *testing.T) {
	doc := `{"id": "a", "requirements": "r", "weight": 1, "score": 0.5, "valid_score": true, "task_category": null,
		"explanation": "e", "judge_metadata": {"full_judge_response": "ok \u00e9", "tokens": [1, 2.50, null, false]}, "sub_tasks": [
		` + leafJSON("b", "1") + `,
		{"id": "c", "requirements": "r", "weight": 1, "score": 7, "valid_score": 0, "explanation": "", "sub_tasks": [], "task_category": "Code Development"},
		{"id": "d", "requirements": "r", "weight": 1, "score": 1, "sub_tasks": [], "task_category": "Code Development"}]}`
	root, issues := parseIssues(t, DefaultLimits, doc)
	wantIssues(t, issues,
		"root/0: score: node of a graded tree has no grade",
		"root/1: score: must be in [0, 1], got 7",
		"root/2: valid_score: missing required field",
		"root/2: explanation: missing required field")
	if got := string(root.Grade.JudgeMetadata); got != `{"full_judge_response":"ok \u00e9","tokens":[1,2.50,null,false]}` {
		t.Errorf("judge_metadata kept as %s", got)
	}
	if root.SubTasks[1].Grade.Valid {
		t.Error("valid_score 0 read as true")
	}
}

func TestFatalIssueKeepsEarlierIssues(t *testing.T) {
	root, issues := parseIssues(t, DefaultLimits, `{"id": 5, "sub_tasks": [{"weight": true}, {"requirements": "unterminated`)
	if root != nil {
		t.Error("tree returned for truncated JSON")
	}
	wantIssues(t, issues, "root: id: must be a string, got number 5", "root/0: weight: must be a number, got boolean true",
		"root/0: id: missing required field", "root/0: requirements: missing required field", "root/0: sub_tasks: missing required field",
		"root/1: requirements: line 1, column 73: unexpected end of input")
}
