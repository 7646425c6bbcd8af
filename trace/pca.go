package trace

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// PCA is a principal component analysis of all (step, token) states of a trace, mean-centred,
// unwhitened and unscaled, as sklearn's PCA that the paper's notebook uses.
type PCA struct {
	Mean       []float64   `json:"-"`
	Components [][]float64 `json:"-"`                  // unit vectors, by decreasing variance
	Variance   []float64   `json:"variance"`           // variance along each component
	Explained  []float64   `json:"explained_variance"` // its share of the total variance
}

// FitPCA fits k components to the rows of s by subspace iteration on the centred data, which
// needs memory for the data and k·(rows + n_embd) numbers only, never an n_embd² matrix.
func FitPCA(s *States, k int) (*PCA, error) {
	n, d := (s.Steps+1)*s.Tokens, s.Dim
	k = min(k, d, n)
	if k < 1 {
		return nil, fmt.Errorf("trace: pca: no data")
	}
	x := mat.NewDense(n, d, nil)
	mean := make([]float64, d)
	for r := range n {
		for j, v := range s.Data[r*d : (r+1)*d] {
			mean[j] += float64(v) / float64(n)
		}
	}
	total := 0.0
	for r := range n {
		for j, v := range s.Data[r*d : (r+1)*d] {
			c := float64(v) - mean[j]
			x.Set(r, j, c)
			total += c * c
		}
	}
	total /= float64(n)
	q := subspace(x, min(2*k+4, d, n))
	// Rayleigh–Ritz: the eigenvectors of the covariance restricted to span(q).
	var xq, b mat.Dense
	xq.Mul(x, q)
	b.Mul(xq.T(), &xq)
	b.Scale(1/float64(n), &b)
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(b.RawMatrix().Cols, b.RawMatrix().Data), true) {
		return nil, fmt.Errorf("trace: pca: eigen-decomposition failed")
	}
	vals := eig.Values(nil)
	var vecs, comps mat.Dense
	eig.VectorsTo(&vecs)
	comps.Mul(q, &vecs)
	p := &PCA{Mean: mean}
	for c := len(vals) - 1; c >= len(vals)-k; c-- { // EigenSym sorts ascending
		p.Components = append(p.Components, mat.Col(nil, c, &comps))
		p.Variance = append(p.Variance, vals[c])
		p.Explained = append(p.Explained, vals[c]/total)
	}
	return p, nil
}

// subspace returns an orthonormal d×m basis of the dominant right singular subspace of x, by 30
// rounds of block power iteration from a fixed random start.
func subspace(x *mat.Dense, m int) *mat.Dense {
	_, d := x.Dims()
	rng := rand.New(rand.NewPCG(1, 2))
	q := mat.NewDense(d, m, nil)
	for i := range d {
		for j := range m {
			q.Set(i, j, rng.NormFloat64())
		}
	}
	var xq, z mat.Dense
	for range 30 {
		xq.Mul(x, q)
		z.Mul(x.T(), &xq)
		q = orthonormal(&z)
	}
	return q
}

// orthonormal orthonormalises the columns of z in place by modified Gram–Schmidt (twice, for
// the accuracy of a QR) and returns it.
func orthonormal(z *mat.Dense) *mat.Dense {
	_, m := z.Dims()
	for range 2 {
		for c := range m {
			col := z.ColView(c).(*mat.VecDense)
			for p := range c {
				prev := z.ColView(p)
				col.AddScaledVec(col, -mat.Dot(col, prev), prev)
			}
			if n := mat.Norm(col, 2); n > 0 {
				col.ScaleVec(1/n, col)
			}
		}
	}
	return z
}

// Project returns the coordinates of x on the components.
func (p *PCA) Project(x []float32) []float64 {
	out := make([]float64, len(p.Components))
	for c, v := range p.Components {
		for j, xj := range x {
			out[c] += (float64(xj) - p.Mean[j]) * v[j]
		}
	}
	return out
}
