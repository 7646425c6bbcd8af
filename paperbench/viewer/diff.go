package viewer

import (
	"net/http"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup"
)

// leafDiff is a leaf graded differently by two seeds, or present in one tree only.
type leafDiff struct {
	Path         string   `json:"path"`
	ID           string   `json:"id"`
	Requirements string   `json:"req"`
	Category     string   `json:"cat"`
	A            *verdict `json:"a"`
	B            *verdict `json:"b"`
}

type verdict struct {
	Score       float64 `json:"s"`
	Valid       bool    `json:"v"`
	Explanation string  `json:"exp"`
}

// diffSide resolves "group/paper/seed" from a query parameter.
func (s *Server) diffSide(v string) (*rungroup.Seed, error) {
	parts := strings.Split(v, "/")
	if len(parts) != 3 {
		return nil, errBadName
	}
	for _, p := range parts {
		if _, err := segment(p); err != nil {
			return nil, err
		}
	}
	return s.loadSeed(parts[0], parts[1], parts[2])
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) {
	var sides [2]*rungroup.Seed
	for i, k := range []string{"a", "b"} {
		sd, err := s.diffSide(r.URL.Query().Get(k))
		if err != nil {
			http.Error(w, k+": no such seed (want group/paper/seed)", http.StatusBadRequest)
			return
		}
		sides[i] = sd
	}
	out := map[string]any{"a": infoOf(sides[0]), "b": infoOf(sides[1])}
	if sides[0].Tree == nil || sides[1].Tree == nil {
		out["error"] = "both seeds must be graded to compare their leaves"
		writeJSON(w, out)
		return
	}
	diffs, same := diffLeaves(sides[0].Tree, sides[1].Tree)
	out["leaves"], out["same"] = diffs, same
	writeJSON(w, out)
}

// diffLeaves pairs leaves by path (and id) and returns those that differ in score or
// validity, or exist on one side only, with the count of leaves that agree.
func diffLeaves(a, b *rubric.Node) ([]leafDiff, int) {
	diffs := []leafDiff{}
	same := 0
	seen := map[string]bool{}
	rubric.Walk(a, func(p rubric.Path, n *rubric.Node) bool {
		if !n.IsLeaf() {
			return true
		}
		key := p.String()
		seen[key] = true
		d := leafDiff{Path: key, ID: n.ID, Requirements: n.Requirements, Category: n.TaskCategory, A: verdictOf(n)}
		if m, err := b.At(p); err == nil && m.IsLeaf() && m.ID == n.ID {
			d.B = verdictOf(m)
			if d.A.Score == d.B.Score && d.A.Valid == d.B.Valid {
				same++
				return true
			}
		}
		diffs = append(diffs, d)
		return true
	})
	rubric.Walk(b, func(p rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() && !seen[p.String()] {
			diffs = append(diffs, leafDiff{Path: p.String(), ID: n.ID, Requirements: n.Requirements,
				Category: n.TaskCategory, B: verdictOf(n)})
		}
		return true
	})
	return diffs, same
}

func verdictOf(n *rubric.Node) *verdict {
	return &verdict{Score: n.Grade.Score, Valid: n.Grade.Valid, Explanation: n.Grade.Explanation}
}

// seedPair is one seed of one paper as two run groups have it.
type seedPair struct {
	Paper  string    `json:"paper"`
	Seed   string    `json:"seed"`
	A      *seedInfo `json:"a"`
	B      *seedInfo `json:"b"`
	Differ *int      `json:"leaves_differ"` // nil unless both are graded
	Agree  int       `json:"leaves_agree"`
}

// groupDiff pairs the seeds of two run groups by paper and seed name.
func (s *Server) groupDiff(w http.ResponseWriter, r *http.Request) {
	var groups [2]*rungroup.Group
	for i, k := range []string{"a", "b"} {
		name, err := segment(r.URL.Query().Get(k))
		if err == nil {
			groups[i], err = rungroup.LoadFS(s.fsys, name)
		}
		if err != nil {
			http.Error(w, k+": no such run group", http.StatusBadRequest)
			return
		}
	}
	index := map[[2]string]*seedPair{}
	var pairs []*seedPair
	for side, g := range groups {
		for _, p := range g.Papers {
			for _, sd := range p.Seeds {
				key := [2]string{p.ID, sd.Name}
				pair := index[key]
				if pair == nil {
					pair = &seedPair{Paper: p.ID, Seed: sd.Name}
					index[key] = pair
					pairs = append(pairs, pair)
				}
				info := infoOf(sd)
				if side == 0 {
					pair.A = &info
				} else {
					pair.B = &info
				}
				if side == 1 && pair.A != nil && sd.Tree != nil {
					if a := treeOf(groups[0], p.ID, sd.Name); a != nil {
						diffs, same := diffLeaves(a, sd.Tree)
						n := len(diffs)
						pair.Differ, pair.Agree = &n, same
					}
				}
			}
		}
	}
	writeJSON(w, map[string]any{"a": groups[0].Name, "b": groups[1].Name, "seeds": pairs})
}

// treeOf returns the graded tree of a paper's seed in g, or nil.
func treeOf(g *rungroup.Group, paper, seed string) *rubric.Node {
	for _, p := range g.Papers {
		for _, sd := range p.Seeds {
			if p.ID == paper && sd.Name == seed {
				return sd.Tree
			}
		}
	}
	return nil
}
