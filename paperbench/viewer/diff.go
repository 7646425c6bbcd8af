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
