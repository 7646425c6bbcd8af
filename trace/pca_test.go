package trace

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestPCAMatchesEigenDecomposition compares FitPCA with the eigenvalues of the full covariance
// on data with planted standard deviations 4, 4, 3, 2, 1, 1 and 0.1 in the other 34 of 40 dimensions.
func TestPCAMatchesEigenDecomposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := &States{Steps: 49, Tokens: 4, Dim: 40}
	n := (s.Steps + 1) * s.Tokens
	s.Data = make([]float32, n*s.Dim)
	for r := range n {
		for j := range s.Dim {
			sd := 0.1
			if j < 6 {
				sd = float64(4 - j*3/4)
			}
			s.Data[r*s.Dim+j] = float32(3 + sd*rng.NormFloat64())
		}
	}
	p, err := FitPCA(s, 6)
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(n, s.Dim, nil)
	for r := range n {
		for j := range s.Dim {
			x.Set(r, j, float64(s.Data[r*s.Dim+j])-p.Mean[j])
		}
	}
	var cov mat.SymDense
	cov.SymOuterK(1/float64(n), x.T())
	var eig mat.EigenSym
	eig.Factorize(&cov, false)
	vals := eig.Values(nil)
	total := 0.0
	for _, v := range vals {
		total += v
	}
	for c := range 6 {
		want := vals[len(vals)-1-c]
		if math.Abs(p.Variance[c]-want) > 1e-6*want || math.Abs(p.Explained[c]-want/total) > 1e-6 {
			t.Errorf("component %d: variance %g (%.4f), want %g (%.4f)", c, p.Variance[c], p.Explained[c], want, want/total)
		}
		if u := mat.NewVecDense(s.Dim, p.Components[c]); math.Abs(mat.Norm(u, 2)-1) > 1e-9 {
			t.Errorf("component %d is not a unit vector", c)
		}
	}
}
