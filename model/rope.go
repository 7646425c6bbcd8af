package model

import "math"

// Rope holds the rotary-embedding table, computed in fp32 the way the reference's
// precompute_freqs_cis does: inv_freq[i] = 1 / base^(2i/d), angle = t · inv_freq[i], all fp32.
type Rope struct {
	half     int       // head_dim / 2
	cos, sin []float32 // [positions × half]
}

// NewRope builds the table for positions [0, maxPos) of heads of size headDim.
func NewRope(headDim, maxPos int, base float64) *Rope {
	half := headDim / 2
	r := &Rope{half: half, cos: make([]float32, maxPos*half), sin: make([]float32, maxPos*half)}
	inv := make([]float32, half)
	for i := range inv {
		exponent := float32(2*i) / float32(headDim)
		inv[i] = 1 / float32(math.Pow(base, float64(exponent)))
	}
	for t := 0; t < maxPos; t++ {
		for i, f := range inv {
			angle := float32(t) * f
			r.cos[t*half+i] = float32(math.Cos(float64(angle)))
			r.sin[t*half+i] = float32(math.Sin(float64(angle)))
		}
	}
	return r
}

// MaxPositions is the number of positions the table covers.
func (r *Rope) MaxPositions() int { return len(r.cos) / r.half }

// Apply rotates the adjacent pairs (x[2i], x[2i+1]) of one head vector at position pos.
func (r *Rope) Apply(x []float32, pos int) {
	c := r.cos[pos*r.half : (pos+1)*r.half]
	s := r.sin[pos*r.half : (pos+1)*r.half]
	for i := range c {
		a, b := x[2*i], x[2*i+1]
		x[2*i] = a*c[i] - b*s[i]
		x[2*i+1] = b*c[i] + a*s[i]
	}
}
