package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQ8VNNIEqualsAVX2 checks the VNNI q8_0 kernels against the AVX2 ones bit for bit, where
// the CPU has both.
func TestQ8VNNIEqualsAVX2(t *testing.T) {
	list := supportedISAs()
	if len(list) == 0 || list[0].q8Dot == nil {
		t.Skip("no q8_0 assembly kernels on this CPU")
	}
	vnni, avx2 := list[0], avx2Q8(list[0])
	if avx2 == nil {
		t.Skip("no AVX-512 VNNI on this CPU")
	}
	rng := rand.New(rand.NewPCG(8, 4))
	saved := fast
	defer func() { fast = saved }()
	for _, k := range []int{32, 64, 96, 5280} {
		const m, n = 7, 21
		c := newQ8Case(rng, m, k, n)
		got, want := make([]float32, m*n), make([]float32, m*n)
		fast = vnni
		LinearQ8(got, c.x, c.q, c.d, m, k, n)
		fast = avx2
		LinearQ8(want, c.x, c.q, c.d, m, k, n)
		if !slices.Equal(got, want) {
			t.Errorf("k=%d: VNNI results differ from AVX2's", k)
		}
	}
}

// avx2Q8 is s with the AVX2 q8_0 kernels in place of the VNNI ones, nil where s does not have
// the VNNI ones.
func avx2Q8(s *isa) *isa {
	if s.q8Layout == nil {
		return nil
	}
	avx2 := *s
	setAVX2Q8(&avx2)
	return &avx2
}
