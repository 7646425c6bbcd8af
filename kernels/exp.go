package kernels

import "math"

// Exp returns e^x in float32 arithmetic, within 2 ulp of the correctly rounded result for x in
// [expMin, expMax] (measured by TestExpAccuracy); below that range it returns 0 (the subnormal
// results are flushed), above it +Inf, and NaN for NaN. It is several times faster than
// math.Exp, which works in float64, and serves the activations and softmaxes of the model and
// its training, whose results are float32 anyway.
//
// The method is Cody and Waite's: x = n·ln 2 + r with n the nearest integer to x·log2 e and
// |r| ≤ ln2/2 (ln 2 split in two parts so that r is exact), e^r from a degree-6 polynomial
// (Cephes's expf coefficients), and 2^n put straight into the exponent bits. ExpScaled runs
// the same steps eight lanes at a time in assembly.
func Exp(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375 // ln 2 rounded to 9 bits: n·ln2Hi is exact
		ln2Lo = -2.12194440e-4
	)
	switch {
	case x > expMax:
		return float32(math.Inf(1))
	case x < expMin:
		return 0
	case x != x:
		return x
	}
	// Every product is rounded by a conversion before it is added, so that the compiler cannot
	// fuse them (it may with GOAMD64=v3) and the assembly's unfused steps give the same bits.
	const roundMagic = 0x1.8p23 // adding and subtracting it rounds |t| < 2^22 to an integer
	fn := float32(float32(x*log2e)+roundMagic) - roundMagic
	n := int32(fn)
	r := float32(x-float32(fn*ln2Hi)) - float32(fn*ln2Lo)
	p := float32(1.9875691500e-4)
	p = float32(p*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	y := float32(float32(float32(p*r)*r)+r) + 1
	if n > 127 { // only just below expMax: 2^128 does not fit the exponent, so scale twice
		y *= 2
		n--
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

const (
	expMax = 88.72283172607421875 // the largest float32 x whose e^x is a finite float32
	expMin = -87.33654475         // ln of the smallest normal float32, 2^-126
)

// ExpScaled writes dst[i] = Exp(scale·src[i] − shift); dst and src may be the same slice, src
// must be at least as long as dst.
func ExpScaled(dst, src []float32, scale, shift float32) {
	src = src[:len(dst)]
	i := 0
	if fast != nil && fast.exp != nil && len(dst) >= expBlock {
		i = len(dst) &^ (expBlock - 1)
		fast.exp(&dst[0], &src[0], scale, shift, i)
	}
	for ; i < len(dst); i++ {
		dst[i] = Exp(float32(scale*src[i]) - shift)
	}
}

// expBlock is the element granularity of the assembly exp.
const expBlock = 8

// SwiGLU writes out[i] = silu(gate[i])·up[i], where silu(g) = g·sigmoid(g) = g / (1 + e^−g).
func SwiGLU(out, gate, up []float32) {
	ExpScaled(out, gate, -1, 0)
	up = up[:len(out)]
	for i, g := range gate[:len(out)] {
		out[i] = g / (1 + out[i]) * up[i]
	}
}

// Sigmoid writes dst[i] = 1 / (1 + e^−src[i]).
func Sigmoid(dst, src []float32) {
	ExpScaled(dst, src, -1, 0)
	for i, e := range dst {
		dst[i] = 1 / (1 + e)
	}
}
