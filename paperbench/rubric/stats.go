package rubric

import "math"

// Stats summarises the shape of a rubric tree.
type Stats struct {
	Nodes     int `json:"nodes"`
	Leaves    int `json:"leaves"`
	MaxDepth  int `json:"max_depth"` // depth of the deepest node, root = 0
	MaxFanOut int `json:"max_fan_out"`
	// LeavesByCategory counts leaves per task category ("" for none).
	LeavesByCategory map[string]int `json:"leaves_by_category"`
	// LeavesByFinegrained counts leaves per fine-grained category ("" for none).
	LeavesByFinegrained map[string]int `json:"leaves_by_finegrained_category"`
	MinWeight           float64        `json:"min_weight"`
	MaxWeight           float64        `json:"max_weight"`
	UnitWeights         int            `json:"unit_weights"` // nodes of weight 1
	ZeroWeights         int            `json:"zero_weights"` // nodes of weight 0
}

// StatsOf measures the tree rooted at root.
func StatsOf(root *Node) Stats {
	s := Stats{
		LeavesByCategory:    map[string]int{},
		LeavesByFinegrained: map[string]int{},
		MinWeight:           math.Inf(1),
		MaxWeight:           math.Inf(-1),
	}
	Walk(root, func(p Path, n *Node) bool {
		s.Nodes++
		s.MaxDepth = max(s.MaxDepth, len(p))
		s.MaxFanOut = max(s.MaxFanOut, len(n.SubTasks))
		s.MinWeight = min(s.MinWeight, n.Weight)
		s.MaxWeight = max(s.MaxWeight, n.Weight)
		if n.Weight == 1 {
			s.UnitWeights++
		}
		if n.Weight == 0 {
			s.ZeroWeights++
		}
		if n.IsLeaf() {
			s.Leaves++
			s.LeavesByCategory[n.TaskCategory]++
			s.LeavesByFinegrained[n.FinegrainedCategory]++
		}
		return true
	})
	return s
}

// Add accumulates o into s, as for the totals over several papers; MaxDepth, MaxFanOut
// and the weight range become the extremes over both.
func (s *Stats) Add(o Stats) {
	if s.LeavesByCategory == nil {
		*s = Stats{LeavesByCategory: map[string]int{}, LeavesByFinegrained: map[string]int{},
			MinWeight: math.Inf(1), MaxWeight: math.Inf(-1)}
	}
	s.Nodes += o.Nodes
	s.Leaves += o.Leaves
	s.MaxDepth = max(s.MaxDepth, o.MaxDepth)
	s.MaxFanOut = max(s.MaxFanOut, o.MaxFanOut)
	s.MinWeight = min(s.MinWeight, o.MinWeight)
	s.MaxWeight = max(s.MaxWeight, o.MaxWeight)
	s.UnitWeights += o.UnitWeights
	s.ZeroWeights += o.ZeroWeights
	for k, v := range o.LeavesByCategory {
		s.LeavesByCategory[k] += v
	}
	for k, v := range o.LeavesByFinegrained {
		s.LeavesByFinegrained[k] += v
	}
}
