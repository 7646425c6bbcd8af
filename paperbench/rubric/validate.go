package rubric

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Issue is one problem found in a rubric, at the node with path Path.
type Issue struct {
	Path  Path
	Field string // the JSON key concerned, "" for the node as a whole
	Msg   string
}

func (is Issue) Error() string {
	if is.Field == "" {
		return is.Path.String() + ": " + is.Msg
	}
	return is.Path.String() + ": " + is.Field + ": " + is.Msg
}

// Issues lists every problem found in a rubric, in depth-first order of the nodes. It is
// the error returned by [Parse] and [Validate].
type Issues []Issue

func (is Issues) Error() string {
	lines := make([]string, len(is))
	for i, issue := range is {
		lines[i] = issue.Error()
	}
	if len(is) == 1 {
		return lines[0]
	}
	return strconv.Itoa(len(is)) + " problems:\n\t" + strings.Join(lines, "\n\t")
}

// err returns is as an error, or nil when it is empty.
func (is Issues) err() error {
	if len(is) == 0 {
		return nil
	}
	slices.SortStableFunc(is, func(a, b Issue) int { return a.Path.compare(b.Path) })
	return is
}

// Validate checks the tree against the official rules and returns every problem as
// [Issues], or nil:
//   - weights are finite and ≥ 0;
//   - requirements are not empty;
//   - a leaf has one of [Categories] (or [Subtree]), an inner node has no category;
//   - a fine-grained category, when set, is one of [FinegrainedCategories];
//   - in a graded tree every node has a grade, with a score in [0, 1].
//
// Duplicate and non-UUID ids are allowed, as in the official data.
func Validate(root *Node) error {
	var issues Issues
	graded := root.Grade != nil
	Walk(root, func(p Path, n *Node) bool {
		issues = append(issues, checkNode(p, n, graded)...)
		return true
	})
	return issues.err()
}

func checkNode(p Path, n *Node, graded bool) []Issue {
	var issues []Issue
	add := func(field, format string, args ...any) {
		issues = append(issues, Issue{Path: p, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if math.IsNaN(n.Weight) || math.IsInf(n.Weight, 0) || n.Weight < 0 {
		add("weight", "must be a finite number ≥ 0, got %v", n.Weight)
	}
	if strings.TrimSpace(n.Requirements) == "" {
		add("requirements", "is empty")
	}
	switch {
	case !n.IsLeaf() && n.TaskCategory != "":
		add("task_category", "inner node (%d sub-tasks) must have no category, got %q", len(n.SubTasks), n.TaskCategory)
	case n.IsLeaf() && n.TaskCategory == "":
		add("task_category", "leaf must have a category (one of %s)", quoteList(Categories))
	case n.IsLeaf() && !slices.Contains(Categories, n.TaskCategory) && n.TaskCategory != Subtree:
		add("task_category", "unknown category %q (want one of %s)", n.TaskCategory, quoteList(Categories))
	}
	if n.FinegrainedCategory != "" && !slices.Contains(FinegrainedCategories, n.FinegrainedCategory) {
		add("finegrained_task_category", "unknown category %q", n.FinegrainedCategory)
	}
	switch {
	case graded && n.Grade == nil:
		add("score", "node of a graded tree has no grade")
	case !graded && n.Grade != nil:
		add("score", "graded node in a tree whose root has no grade")
	case n.Grade != nil && !(n.Grade.Score >= 0 && n.Grade.Score <= 1):
		add("score", "must be in [0, 1], got %v", n.Grade.Score)
	}
	return issues
}

func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return strings.Join(quoted, ", ")
}
