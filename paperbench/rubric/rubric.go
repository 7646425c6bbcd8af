// Package rubric reads, checks, transforms, scores and writes PaperBench rubric trees.
//
// A rubric is the hierarchical grading tree of one paper (the official rubric.json, a
// TaskNode tree). A graded tree is the same tree with a Grade on every node (the official
// grader output, a GradedTaskNode tree). Both formats are read by [Parse] and [Load] and
// written by [Write] and [WriteFile] byte for byte like the official Python code
// (json.dumps with indent=4).
//
// Node ids are neither unique nor always UUIDs, so nodes are addressed by [Path], the child
// indices from the root (printed "root/3/0/2"). [Walk] visits nodes with their paths.
//
// Scores propagate like the official GradedTaskNode.score: a parent's score is
// Σ score·weight / Σ weight over its children (0 when the weights sum to 0), summed left to
// right in child order so that results match the official ones bit for bit. One deliberate
// difference: [Score] marks a parent invalid when any child is invalid, where the official
// code always marks parents valid and so hides judge failures (frontier-evals issue #144).
package rubric

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Leaf task categories (the official VALID_TASK_CATEGORIES).
const (
	CodeDevelopment = "Code Development"
	CodeExecution   = "Code Execution"
	ResultAnalysis  = "Result Analysis"
	// Subtree marks a leaf that stands for a whole pruned subtree, graded with a score in
	// [0, 1] instead of 0 or 1. No official rubric uses it; [PruneToDepth] produces it.
	Subtree = "Subtree"
)

// Categories lists the task categories of official rubric leaves, in report order.
var Categories = []string{CodeDevelopment, CodeExecution, ResultAnalysis}

// DatasetAndModelAcquisition is the fine-grained category whose leaves [ResourcesProvided]
// removes from scoring.
const DatasetAndModelAcquisition = "Dataset and Model Acquisition"

// FinegrainedCategories lists the official fine-grained leaf categories
// (VALID_FINEGRAINED_TASK_CATEGORIES).
var FinegrainedCategories = []string{
	"Environment & Infrastructure Setup",
	DatasetAndModelAcquisition,
	"Data Processing & Preparation",
	"Method Implementation",
	"Experimental Setup",
	"Evaluation, Metrics & Benchmarking",
	"Logging, Analysis & Presentation",
}

// AggregatedExplanation is the explanation the official judge gives an inner node whose
// score comes from its children; [Score] uses it for inner nodes that have no grade yet.
const AggregatedExplanation = "Aggregated score from sub-tasks."

// Node is one rubric node. A leaf has no SubTasks and a TaskCategory; an inner node has
// SubTasks and no category. An empty string stands for JSON null in the category fields.
type Node struct {
	ID                  string
	Requirements        string
	Weight              float64 // a non-negative number; official rubrics use integers
	TaskCategory        string
	FinegrainedCategory string // "finegrained_task_category"
	SubTasks            []*Node
	Grade               *Grade // nil in a plain rubric; set on every node of a graded tree
}

// Grade is the judge's verdict on a node (the GradedTaskNode fields).
type Grade struct {
	Score         float64 // in [0, 1]; 0 or 1 for ordinary leaves
	Valid         bool    // "valid_score": false when the judge failed on this node
	Explanation   string
	JudgeMetadata json.RawMessage // compact JSON; nil stands for null
}

// clone returns a copy of g (nil for nil).
func (g *Grade) clone() *Grade {
	if g == nil {
		return nil
	}
	c := *g
	c.JudgeMetadata = bytes.Clone(g.JudgeMetadata)
	return &c
}

// IsLeaf reports whether the node has no sub-tasks.
func (n *Node) IsLeaf() bool { return len(n.SubTasks) == 0 }

// Clone returns a deep copy of the tree rooted at n.
func (n *Node) Clone() *Node {
	c := *n
	c.Grade = n.Grade.clone()
	c.SubTasks = nil
	for _, child := range n.SubTasks {
		c.SubTasks = append(c.SubTasks, child.Clone())
	}
	return &c
}

// Path addresses a node by the indices of the children taken from the root; the root is
// the empty path.
type Path []int

// String prints the path as "root/3/0/2".
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("root")
	for _, i := range p {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

// Child returns a new path that extends p by child index i.
func (p Path) Child(i int) Path {
	c := make(Path, len(p)+1)
	copy(c, p)
	c[len(p)] = i
	return c
}

// ParsePath reads a path printed by [Path.String] ("root", "root/3/0").
func ParsePath(s string) (Path, error) {
	parts := strings.Split(s, "/")
	if parts[0] != "root" {
		return nil, fmt.Errorf("rubric: path %q does not start with \"root\"", s)
	}
	p := Path{}
	for _, part := range parts[1:] {
		i, err := strconv.Atoi(part)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("rubric: path %q: %q is not a child index", s, part)
		}
		p = append(p, i)
	}
	return p, nil
}

// compare orders paths in depth-first pre-order: a parent before its children, children in
// index order.
func (p Path) compare(q Path) int {
	for i := 0; i < len(p) && i < len(q); i++ {
		if p[i] != q[i] {
			return p[i] - q[i]
		}
	}
	return len(p) - len(q)
}

// At returns the node at path p below n.
func (n *Node) At(p Path) (*Node, error) {
	node := n
	for depth, i := range p {
		if i < 0 || i >= len(node.SubTasks) {
			return nil, fmt.Errorf("rubric: no node %s: node %s has %d sub-tasks",
				p, p[:depth], len(node.SubTasks))
		}
		node = node.SubTasks[i]
	}
	return node, nil
}

// Walk calls fn for every node of the tree in depth-first pre-order (root first, children
// in order, as the official get_descendants_depth_first) with the node's path; len(path)
// is the node's depth, and fn may keep the path. When fn returns false the node's
// sub-tasks are skipped.
func Walk(root *Node, fn func(p Path, n *Node) bool) {
	walk(root, Path{}, fn)
}

func walk(n *Node, p Path, fn func(Path, *Node) bool) {
	if !fn(p, n) {
		return
	}
	for i, child := range n.SubTasks {
		walk(child, p.Child(i), fn)
	}
}

// Leaves returns the paths of all leaves in depth-first order.
func Leaves(root *Node) []Path {
	var paths []Path
	Walk(root, func(p Path, n *Node) bool {
		if n.IsLeaf() {
			paths = append(paths, p)
		}
		return true
	})
	return paths
}
