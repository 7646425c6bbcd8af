package rubric

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// FuzzParseRubric checks that no input makes the parser panic or exceed its limits, that
// every error is a list of issues, and that a tree read without issues is written and read
// back unchanged (and can be measured, transformed and scored).
func FuzzParseRubric(f *testing.F) {
	f.Add([]byte(leafJSON("a", "1")))
	f.Add([]byte(`{"id": "a", "requirements": "r", "weight": 1, "score": 1.0, "valid_score": true, "explanation": "",
		"judge_metadata": {"k": ["\ud83d\ude00", 1e5, null]}, "task_category": "Code Development", "sub_tasks": []}`))
	f.Add([]byte(`{"id": "a", "requirements": "r", "weight": 2.5, "sub_tasks": [` + leafJSON("b", "0") + `]}`))
	if root := fixtures.Root(); root != "" {
		seeds, _ := filepath.Glob(filepath.Join(root, "paperbench", "unit_fixtures", "rubrics", "*.json"))
		for _, path := range seeds {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
	}
	lim := Limits{MaxBytes: 1 << 16, MaxDepth: 16, MaxString: 1 << 12, MaxNodes: 512}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := lim.Parse(bytes.NewReader(data))
		var issues Issues
		if err != nil && !errors.As(err, &issues) {
			t.Fatalf("error %v is %T, not Issues", err, err)
		}
		if err != nil && len(issues) == 0 {
			t.Fatal("empty issue list returned as an error")
		}
		if root == nil {
			return
		}
		StatsOf(root)
		PruneToDepth(ResourcesProvided(root), 2)
		CodeOnly(root)
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := Write(&first, root); err != nil {
			t.Fatalf("valid tree not written: %v", err)
		}
		back, err := DefaultLimits.Parse(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("written tree does not parse: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		Write(&second, back)
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("round trip changed the tree:\n%s\n---\n%s", first.Bytes(), second.Bytes())
		}
		if root.Grade != nil {
			if _, err := Score(root); err != nil {
				t.Fatalf("valid graded tree not scored: %v", err)
			}
		}
	})
}
