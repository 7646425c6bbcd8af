package train

import (
	"math"
	"math/rand/v2"
)

// Recurrence says how many recurrences one batch runs: N without gradient, then K with.
type Recurrence struct{ N, K int }

// Total is the number of recurrences r = N + K.
func (r Recurrence) Total() int { return r.N + r.K }

// RecurrenceSampler draws the recurrence of each batch the way the reference trains
// ("poisson-lognormal-filling"): rate ~ LogNormal(log r̄ − σ²/2, σ), r = Poisson(rate) + 1,
// n = max(r − k̄, 0) without gradient and k = min(k̄, r) with gradient. A Fixed recurrence, when
// set, is returned every time instead.
type RecurrenceSampler struct {
	Mean          int     // r̄, the mean recurrence
	BackpropDepth int     // k̄, the most recurrences with gradient
	Sigma         float64 // σ of the log-normal; the reference uses 0.5
	Fixed         *Recurrence
}

// Sample draws one recurrence from rng.
func (s RecurrenceSampler) Sample(rng *rand.Rand) Recurrence {
	if s.Fixed != nil {
		return *s.Fixed
	}
	mu := math.Log(float64(s.Mean)) - s.Sigma*s.Sigma/2
	rate := math.Exp(mu + s.Sigma*rng.NormFloat64())
	r := poisson(rng, rate) + 1
	k := min(s.BackpropDepth, r)
	return Recurrence{N: r - k, K: k}
}

// poisson draws from Poisson(lambda): by multiplying uniforms for small lambda, else by
// Hörmann's transformed rejection with squeeze (PTRS, 1993), exact for any lambda.
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda < 10 {
		limit, prod, k := math.Exp(-lambda), rng.Float64(), 0
		for prod > limit {
			prod *= rng.Float64()
			k++
		}
		return k
	}
	slam, loglam := math.Sqrt(lambda), math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return int(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return int(k)
		}
	}
}
