package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRowPathsMatchReference runs every path this CPU has for products with few rows, forced,
// on awkward sizes (odd k, n not a multiple of the vector width or of the tiles, m = 1…17)
// against the exact products within the fp32 rounding bound.
func TestRowPathsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	forEachISA(t, func(name string) {
		for p := range numPaths {
			if !fast.runs(p, true) {
				continue
			}
			for m := 1; m <= MaxFewRows+1; m++ {
				for _, kn := range [][2]int{{1, 5}, {7, 13}, {33, 3}, {517, 67}, {16, 1}} {
					checkPath(t, fmt.Sprintf("%s %s m=%d k=%d n=%d", name, p, m, kn[0], kn[1]), p, rng, m, kn[0], kn[1])
				}
			}
		}
	})
}

// checkPath runs path p on one shape with fp32 and bf16 weights (inputs offset so nothing is
// aligned) and checks both against the exact products.
func checkPath(t *testing.T, label string, p path, rng *rand.Rand, m, k, n int) {
	t.Helper()
	x := randomSlice(rng, m*k, 1)
	wf, wb := randomSlice(rng, n*k, 3), randomBF16(rng, n*k, 1)
	out := randomSlice(rng, m*n, 1) // garbage the path must overwrite
	if fast.runs(p, false) {
		linearPath(fast, p, out, rowMajor(x, k), weightsF32(wf, k), m, k, n)
		exact, bound := gemvBound(x, func(j, q int) float32 { return wf[j*k+q] }, m, k, n)
		checkGemv(t, label+" f32", out, exact, bound)
	}
	linearPath(fast, p, out, rowMajor(x, k), weightsBF16(wb, k), m, k, n)
	exact, bound := gemvBoundPath(x, func(j, q int) float32 { return BF16ToFloat32(wb[j*k+q]) }, m, k, n, p)
	checkGemv(t, label+" bf16", out, exact, bound)
}

func TestPathNames(t *testing.T) {
	for p := range numPaths {
		if q, ok := parsePath(p.String()); !ok || q != p {
			t.Fatalf("parsePath(%q) = %v, %v", p, q, ok)
		}
	}
	if _, ok := parsePath("bogus"); ok {
		t.Fatal(`parsePath("bogus") succeeded`)
	}
}

// BenchmarkRows reports the aggregate rows per second of products with m = 1, 2, 4, 8, 16 rows
// through Huginn-0125's fused q, k, v weights (15840×5280, out of cache), as a ratio to m = 1,
// for the routing in use ("now", what Linear takes: up to MaxRowwise rows the one-row path) and
// every path this CPU has, measured interleaved in one run so all see the same load. Times are workTime's (CPU time per worker,
// capped by wall time), steadier than wall time on a shared machine. Ideal for rows sharing one
// read: ratio m.
func BenchmarkRows(b *testing.B) {
	if fast == nil || !fast.runs(pathRows, false) {
		b.Skip("no row kernels on this CPU")
	}
	const n, k = 15840, 5280
	rng := rand.New(rand.NewPCG(6, 7))
	x, out := randomSlice(rng, MaxFewRows*k, 0), make([]float32, MaxFewRows*n)
	ms := []int{1, 2, 4, 8, 16}
	for _, bf16 := range []bool{true, false} {
		var bt operand
		if bf16 {
			bt = weightsBF16(randomBF16(rng, n*k, 0), k)
		} else {
			bt = weightsF32(randomSlice(rng, n*k, 0), k)
		}
		b.Run(map[bool]string{true: "bf16", false: "f32"}[bf16], func(b *testing.B) {
			routes := map[string]func(int) path{"now": func(m int) path { return fast.pathFor(bf16, m) }}
			for p := range numPaths {
				if fast.runs(p, bf16) {
					routes[p.String()] = func(int) path { return p }
				}
			}
			best := map[string][]float64{}
			for b.Loop() {
				for name, route := range routes {
					if best[name] == nil {
						best[name] = make([]float64, len(ms))
					}
					for i, m := range ms {
						s := workTime(func() { linearPath(fast, route(m), out, rowMajor(x, k), bt, m, k, n) })
						if best[name][i] == 0 || s < best[name][i] {
							best[name][i] = s
						}
					}
				}
			}
			for name, t := range best {
				for i, m := range ms[1:] {
					b.ReportMetric(float64(m)*t[0]/t[i+1], fmt.Sprintf("%s-m%d/m1", name, m))
				}
				b.ReportMetric(t[0]*1e3, name+"-m1-ms")
			}
		})
	}
}
