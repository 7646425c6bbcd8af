//go:build openblas

package openblas

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/latentlab/latent/kernels"
)

func randomSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func TestLinearMatchesKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, k, n = 37, 300, 45
	x, w := randomSlice(rng, m*k), randomSlice(rng, n*k)
	got, want := make([]float32, m*n), make([]float32, m*n)
	Linear(got, x, w, m, k, n)
	kernels.Linear(want, x, w, m, k, n)
	for i := range got {
		if d := got[i] - want[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("element %d: OpenBLAS %g, kernels %g", i, got[i], want[i])
		}
	}
}

// BenchmarkGemmVsOpenBLAS alternates kernels.Linear and OpenBLAS's sgemm on the same shape,
// so that both see the same load on a shared machine, and reports both rates and their ratio,
// by wall time and by the process CPU time each spent (steadier when other work shares the
// cores; OpenBLAS's threads spin while they wait, and that counts against it too). Run it with
// OpenBLAS's threads told to sleep soon after each call:
//
//	OPENBLAS_THREAD_TIMEOUT=4 OPENBLAS_NUM_THREADS=2 go test -tags openblas -run NONE -bench GemmVsOpenBLAS ./kernels/openblas
//
// Without OPENBLAS_THREAD_TIMEOUT its idle threads spin after every call and take the cores
// from kernels' workers in the call that follows, which makes the alternation unfair to them.
func BenchmarkGemmVsOpenBLAS(b *testing.B) {
	shapes := []struct {
		name    string
		m, k, n int
	}{
		{"1024", 1024, 1024, 1024},
		{"2048", 2048, 2048, 2048},
		{"huginn-prefill-64x5280x15840", 64, 5280, 15840},
		{"huginn-prefill-16x5280x15840", 16, 5280, 15840},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		x, w, out := randomSlice(rng, s.m*s.k), randomSlice(rng, s.n*s.k), make([]float32, s.m*s.n)
		b.Run(s.name, func(b *testing.B) {
			ours := func() { kernels.Linear(out, x, w, s.m, s.k, s.n) }
			theirs := func() { Linear(out, x, w, s.m, s.k, s.n) }
			ours()
			theirs()
			var wallOurs, wallTheirs, cpuOurs, cpuTheirs time.Duration
			for b.Loop() {
				w, c := timed(ours)
				wallOurs, cpuOurs = wallOurs+w, cpuOurs+c
				w, c = timed(theirs)
				wallTheirs, cpuTheirs = wallTheirs+w, cpuTheirs+c
			}
			flop := 2 * float64(s.m) * float64(s.k) * float64(s.n) * float64(b.N)
			b.ReportMetric(flop/wallOurs.Seconds()/1e9, "GFLOP/s-latent")
			b.ReportMetric(flop/wallTheirs.Seconds()/1e9, "GFLOP/s-openblas")
			b.ReportMetric(wallTheirs.Seconds()/wallOurs.Seconds(), "speedup")
			b.ReportMetric(cpuTheirs.Seconds()/cpuOurs.Seconds(), "speedup-cpu")
		})
	}
}

// timed runs fn and returns the wall time and the process CPU time it took.
func timed(fn func()) (wall, cpu time.Duration) {
	start, cpu0 := time.Now(), processCPUTime()
	fn()
	return time.Since(start), processCPUTime() - cpu0
}

// processCPUTime returns the user plus system CPU time of the whole process so far.
func processCPUTime() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
