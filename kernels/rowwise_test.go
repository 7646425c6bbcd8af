package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLinearRowsEqualsAlone checks that every row of LinearRows and LinearBF16Rows equals
// Linear / LinearBF16 of that row alone, bitwise, for row counts past MaxRowwise.
func TestLinearRowsEqualsAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const k, n = 100, 37
	w := make([]float32, n*k)
	wb := make([]uint16, n*k)
	for i := range w {
		w[i] = rng.Float32()*2 - 1
		wb[i] = Float32ToBF16(w[i])
	}
	for _, m := range []int{1, 5, MaxRowwise, MaxRowwise + 1, 3 * MaxRowwise} {
		x := make([]float32, m*k)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		got, gotB := make([]float32, m*n), make([]float32, m*n)
		LinearRows(got, x, w, m, k, n)
		LinearBF16Rows(gotB, x, wb, m, k, n)
		for i := range m {
			want, wantB := make([]float32, n), make([]float32, n)
			Linear(want, x[i*k:(i+1)*k], w, 1, k, n)
			LinearBF16(wantB, x[i*k:(i+1)*k], wb, 1, k, n)
			if !slices.Equal(got[i*n:(i+1)*n], want) || !slices.Equal(gotB[i*n:(i+1)*n], wantB) {
				t.Errorf("m=%d: row %d differs from the row alone", m, i)
			}
		}
	}
}

// BenchmarkLinearBF16Rows times LinearBF16Rows on a Huginn-0125 MLP weight (17920×5280 bf16,
// 189 MB: read from memory at every call) for 1 to 16 input rows, with the two-vector kernel
// and (pairs-off) with one vector at a time, to show what batched rows cost beyond the first:
//
//	go test ./kernels -run NONE -bench LinearBF16Rows
func BenchmarkLinearBF16Rows(b *testing.B) {
	if fast == nil {
		b.Skip("the portable Go kernels have no two-vector path")
	}
	const k, n = 5280, 17920
	w := make([]uint16, n*k)
	for i := range w {
		w[i] = Float32ToBF16(float32(i%97)/97 - 0.5)
	}
	pairs := fast.gemv2BF16
	for _, variant := range []string{"pairs", "pairs-off"} {
		for _, m := range []int{1, 4, 8, 16} {
			x, out := make([]float32, m*k), make([]float32, m*n)
			for i := range x {
				x[i] = float32(i%13) / 13
			}
			b.Run(fmt.Sprintf("%s/rows-%d", variant, m), func(b *testing.B) {
				if variant == "pairs-off" {
					fast.gemv2BF16 = nil
					defer func() { fast.gemv2BF16 = pairs }()
				}
				for b.Loop() {
					LinearBF16Rows(out, x, w, m, k, n)
				}
			})
		}
	}
}
