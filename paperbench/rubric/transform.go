package rubric

import "fmt"

// The transforms return new trees and leave their input unchanged. Grades are copied
// as they are: call [Score] afterwards to recompute the scores of a graded tree.

// CodeOnly returns the tree reduced to its Code Development leaves (the official
// code_only, used by PaperBench Code-Dev): other leaves are dropped, and so is every inner
// node left without sub-tasks. It returns nil when no Code Development leaf is left.
func CodeOnly(root *Node) *Node {
	if root.IsLeaf() {
		if root.TaskCategory == CodeDevelopment {
			return root.Clone()
		}
		return nil
	}
	var kept []*Node
	for _, child := range root.SubTasks {
		if c := CodeOnly(child); c != nil {
			kept = append(kept, c)
		}
	}
	if kept == nil {
		return nil
	}
	c := *root
	c.SubTasks, c.Grade = kept, root.Grade.clone()
	return &c
}

// ResourcesProvided returns the tree with the weight of every leaf whose fine-grained
// category is [DatasetAndModelAcquisition] set to 0 (the official resources_provided, for
// runs in which datasets and models are given to the agent).
func ResourcesProvided(root *Node) *Node {
	c := root.Clone()
	Walk(c, func(_ Path, n *Node) bool {
		if n.IsLeaf() && n.FinegrainedCategory == DatasetAndModelAcquisition {
			n.Weight = 0
		}
		return true
	})
	return c
}

// PruneToDepth returns the tree cut below maxDepth (root = depth 0), like the official
// prune_to_depth: nodes at depth maxDepth lose their sub-tasks. Where such a node was an
// inner node it becomes a leaf of category [Subtree], to be graded as a whole; the
// official code leaves its category null, which its own checks only warn about.
func PruneToDepth(root *Node, maxDepth int) *Node {
	c := root.Clone()
	Walk(c, func(p Path, n *Node) bool {
		if len(p) < maxDepth || n.IsLeaf() {
			return true
		}
		n.SubTasks = nil
		n.TaskCategory = Subtree
		return false
	})
	return c
}

// PriorNodes returns the nodes the judge shows as context for the node at path p (the
// official get_prior_nodes): its ancestors and the preceding siblings of it and of each
// ancestor, in tree order ("root, then level by level: the siblings before, then the
// ancestor itself"), the node itself excluded. With max > 0 only the last max are kept.
// The official code finds the node and its siblings by id, which picks the wrong node when
// ids repeat (and returns nothing for a node sharing the root's id); paths do not.
func PriorNodes(root *Node, p Path, max int) ([]*Node, error) {
	if _, err := root.At(p); err != nil {
		return nil, fmt.Errorf("rubric: prior nodes: %w", err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	prior := []*Node{root}
	node := root
	for _, i := range p {
		prior = append(prior, node.SubTasks[:i+1]...)
		node = node.SubTasks[i]
	}
	prior = prior[:len(prior)-1]
	if max > 0 && len(prior) > max {
		prior = prior[len(prior)-max:]
	}
	return prior, nil
}
