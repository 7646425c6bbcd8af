package rungroup

import (
	"cmp"
	"math"
	"slices"

	"github.com/latentlab/latent/paperbench/rubric"
)

// MeanSE is a mean with its standard error (sample standard deviation, ddof 1, over √n,
// as the official compute_agg_stats); SE is NaN below two values, Mean NaN for none.
type MeanSE struct {
	Mean, SE float64
	N        int
}

// NewMeanSE summarises xs.
func NewMeanSE(xs []float64) MeanSE {
	m := MeanSE{Mean: math.NaN(), SE: math.NaN(), N: len(xs)}
	if len(xs) == 0 {
		return m
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	m.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - m.Mean) * (x - m.Mean)
		}
		m.SE = math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
	}
	return m
}

// PaperStats is one paper's score over its graded seeds.
type PaperStats struct {
	ID     string
	Score  MeanSE
	Seeds  int // seed folders, graded or not
	ByCat  map[string]MeanSE
	Scores []float64
}

// FailedLeaf is a leaf that graded seeds failed (valid score 0).
type FailedLeaf struct {
	Paper, Path, ID, Requirements, Category string
	Failed, Graded                          int
}

// SeedPoint is one graded seed with what its agent spent, where known.
type SeedPoint struct {
	Paper, Seed    string
	Score          float64
	CostUSD        *float64
	WorkingSeconds *float64
}

// Summary is what a report shows of a group.
type Summary struct {
	Papers     []PaperStats
	ARS        MeanSE            // over complete seeds, each the mean over papers
	Complete   []string          // seeds graded for every paper
	Incomplete []string          // seeds missing or not graded for some paper
	Categories map[string]MeanSE // per task category: mean over papers of the paper's mean
	Failed     []FailedLeaf      // most often failed first
	Points     []SeedPoint
	Seeds      map[string]int // seeds by state
}

// Summarize computes the summary of g.
func Summarize(g *Group) Summary {
	s := Summary{Categories: map[string]MeanSE{}, Seeds: map[string]int{}}
	catPaperMeans := map[string][]float64{}
	failed := map[[2]string]*FailedLeaf{}
	for _, p := range g.Papers {
		ps := PaperStats{ID: p.ID, Seeds: len(p.Seeds), ByCat: map[string]MeanSE{}}
		catScores := map[string][]float64{}
		for _, seed := range p.Seeds {
			s.Seeds[seed.State]++
			if seed.State != Graded {
				continue
			}
			ps.Scores = append(ps.Scores, seed.Score())
			pt := SeedPoint{Paper: p.ID, Seed: seed.Name, Score: seed.Score()}
			if seed.Usage != nil {
				pt.CostUSD, pt.WorkingSeconds = seed.Usage.CostUSD, seed.Usage.WorkingSeconds
			}
			s.Points = append(s.Points, pt)
			for _, cat := range rubric.Categories {
				if score, ok := CategoryScore(seed.Tree, cat); ok {
					catScores[cat] = append(catScores[cat], score)
				}
			}
			countFailed(failed, p.ID, seed.Tree)
		}
		ps.Score = NewMeanSE(ps.Scores)
		for cat, xs := range catScores {
			ps.ByCat[cat] = NewMeanSE(xs)
			catPaperMeans[cat] = append(catPaperMeans[cat], ps.ByCat[cat].Mean)
		}
		s.Papers = append(s.Papers, ps)
	}
	for cat, xs := range catPaperMeans {
		s.Categories[cat] = NewMeanSE(xs)
	}
	s.ARS, s.Complete, s.Incomplete = groupARS(g)
	for _, f := range failed {
		if f.Failed > 0 {
			s.Failed = append(s.Failed, *f)
		}
	}
	slices.SortFunc(s.Failed, func(a, b FailedLeaf) int {
		ra, rb := float64(a.Failed)/float64(a.Graded), float64(b.Failed)/float64(b.Graded)
		return cmp.Or(cmp.Compare(rb, ra), cmp.Compare(b.Failed, a.Failed), cmp.Compare(a.Paper, b.Paper),
			cmp.Compare(a.Path, b.Path))
	})
	return s
}

// countFailed counts the tree's leaves, and its valid leaves scored 0, by paper and path.
func countFailed(failed map[[2]string]*FailedLeaf, paper string, tree *rubric.Node) {
	rubric.Walk(tree, func(p rubric.Path, n *rubric.Node) bool {
		if !n.IsLeaf() || !n.Grade.Valid {
			return true
		}
		key := [2]string{paper, p.String()}
		f := failed[key]
		if f == nil {
			f = &FailedLeaf{Paper: paper, Path: key[1], ID: n.ID, Requirements: n.Requirements, Category: n.TaskCategory}
			failed[key] = f
		}
		f.Graded++
		if n.Grade.Score == 0 {
			f.Failed++
		}
		return true
	})
}

// groupARS is the official ARS over complete seeds: a seed counts when every paper of the
// group has it graded; its score is the mean over papers.
func groupARS(g *Group) (MeanSE, []string, []string) {
	graded := map[string]map[string]float64{} // seed → paper → score
	var names []string
	for _, p := range g.Papers {
		for _, seed := range p.Seeds {
			if graded[seed.Name] == nil {
				graded[seed.Name] = map[string]float64{}
				names = append(names, seed.Name)
			}
			if seed.State == Graded {
				graded[seed.Name][p.ID] = seed.Score()
			}
		}
	}
	slices.SortFunc(names, compareNames)
	var complete, incomplete []string
	var scores []float64
	for _, name := range names {
		if len(graded[name]) < len(g.Papers) {
			incomplete = append(incomplete, name)
			continue
		}
		var sum float64
		for _, v := range graded[name] {
			sum += v
		}
		complete = append(complete, name)
		scores = append(scores, sum/float64(len(g.Papers)))
	}
	return NewMeanSE(scores), complete, incomplete
}

// CategoryScore is the score of the tree reduced to the leaves of one task category (the
// official reduce_to_category, then the weighted mean): false when it has none.
func CategoryScore(tree *rubric.Node, category string) (float64, bool) {
	score, weight := categoryScore(tree, category)
	return score, weight >= 0
}

// categoryScore returns the node's score over the category's leaves and -1 as the weight
// when the subtree holds none of them.
func categoryScore(n *rubric.Node, category string) (float64, float64) {
	if n.IsLeaf() {
		if n.TaskCategory != category {
			return 0, -1
		}
		return n.Grade.Score, n.Weight
	}
	var total, weighted float64
	kept := false
	for _, c := range n.SubTasks {
		if score, w := categoryScore(c, category); w >= 0 {
			kept = true
			total += c.Weight
			weighted += score * c.Weight
		}
	}
	if !kept {
		return 0, -1
	}
	if total == 0 {
		return 0, n.Weight
	}
	return weighted / total, n.Weight
}
