package rubric

// Score recomputes the grade of every inner node from the leaves up, like the official
// update_all_grades, and returns the root's score. Leaves keep their grades, and each leaf
// must have one. An inner node's score is Σ score·weight / Σ weight over its children, both
// sums taken left to right in child order as the official code does (0 when the weights
// sum to 0), so that scores match the official ones bit for bit.
//
// Unlike the official code, which always marks inner nodes valid, an inner node is valid
// only when all its children are: one failed leaf makes every ancestor invalid. Inner
// nodes without a grade get one explained by [AggregatedExplanation].
func Score(root *Node) (float64, error) {
	var missing Issues
	Walk(root, func(p Path, n *Node) bool {
		if n.IsLeaf() && n.Grade == nil {
			missing = append(missing, Issue{Path: p, Field: "score", Msg: "leaf has no grade"})
		}
		return true
	})
	if err := missing.err(); err != nil {
		return 0, err
	}
	propagate(root)
	return root.Grade.Score, nil
}

func propagate(n *Node) {
	if n.IsLeaf() {
		return
	}
	var totalWeight, weightedScore float64
	valid := true
	for _, child := range n.SubTasks {
		propagate(child)
		totalWeight += child.Weight
		weightedScore += child.Grade.Score * child.Weight
		valid = valid && child.Grade.Valid
	}
	if n.Grade == nil {
		n.Grade = &Grade{Explanation: AggregatedExplanation}
	}
	n.Grade.Score, n.Grade.Valid = 0, valid
	if totalWeight != 0 {
		n.Grade.Score = weightedScore / totalWeight
	}
}
