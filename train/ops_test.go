package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/latentlab/latent/model"
)

// Finite-difference checks: every backward is compared with central differences of a scalar
// loss L = Σ out ∘ R (R fixed random) evaluated in float64 over the fp32 forward. With inputs of
// order 1 and eps = 1e-2 the truncation error is ~1e-4 and fp32 rounding ~1e-5 relative.

func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGrad compares analytic[i] with the central difference of loss in x[i] for up to 40
// indices of x.
func checkGrad(t *testing.T, name string, x, analytic []float32, loss func() float64) {
	t.Helper()
	const eps = 1e-2
	rng := rand.New(rand.NewPCG(7, uint64(len(x))))
	idx := rng.Perm(len(x))[:min(40, len(x))]
	var worst float64
	for _, i := range idx {
		orig := x[i]
		x[i] = orig + eps
		up := loss()
		x[i] = orig - eps
		down := loss()
		x[i] = orig
		num := (up - down) / (2 * eps)
		err := math.Abs(num-float64(analytic[i])) / (1e-3 + math.Abs(num))
		worst = max(worst, err)
		if err > 2e-2 {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", name, i, analytic[i], num)
		}
	}
	t.Logf("%s: worst relative error %.2g over %d coordinates", name, worst, len(idx))
}

func TestRMSNormBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows, h := 3, 16
	x, w, r := randVec(rng, rows*h, 1), randVec(rng, h, 1), randVec(rng, rows*h, 1)
	out, rstd := make([]float32, rows*h), make([]float32, rows)
	loss := func() float64 { rmsnormForward(out, rstd, x, w, h, 1e-6); return dot64(out, r) }
	loss()
	dx, dw := make([]float32, rows*h), make([]float32, h)
	rmsnormBackward(dx, dw, r, x, rstd, w, h)
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dw", w, dw, loss)
}

func TestLinearBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	m, k, n := 5, 7, 6
	x, w, r := randVec(rng, m*k, 1), randVec(rng, n*k, 1), randVec(rng, m*n, 1)
	out := make([]float32, m*n)
	loss := func() float64 { linearForward(out, x, w, m, k, n); return dot64(out, r) }
	dx, dw := make([]float32, m*k), make([]float32, n*k)
	linearBackward(dx, dw, r, x, w, m, k, n)
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dw", w, dw, loss)
}

func TestSwiGLUBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 4))
	rows, ffn := 4, 9
	fc, r := randVec(rng, rows*2*ffn, 1.5), randVec(rng, rows*ffn, 1)
	act := make([]float32, rows*ffn)
	loss := func() float64 { swigluForward(act, fc, ffn); return dot64(act, r) }
	dfc := make([]float32, len(fc))
	swigluBackward(dfc, r, fc, ffn)
	checkGrad(t, "dfc", fc, dfc, loss)
}

func TestEmbeddingBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	V, h, ids := 6, 4, []int{3, 1, 3, 0}
	wte, r := randVec(rng, V*h, 1), randVec(rng, len(ids)*h, 1)
	out := make([]float32, len(ids)*h)
	loss := func() float64 { embedForward(out, ids, wte, h, 2.5); return dot64(out, r) }
	dwte := make([]float32, V*h)
	embedBackward(dwte, r, ids, h, 2.5)
	checkGrad(t, "dwte", wte, dwte, loss)
}

func TestCrossEntropyBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	N, V := 4, 7
	labels := []int{2, ignoreIndex, 6, 0}
	logits := randVec(rng, N*V, 2)
	work, rowLoss := make([]float32, N*V), make([]float64, N)
	loss := func() float64 {
		copy(work, logits)
		l, _ := crossEntropy(work, labels, V, rowLoss)
		return l
	}
	loss()
	grad := append([]float32(nil), work...)
	checkGrad(t, "dlogits", logits, grad, loss)
	for j := 0; j < V; j++ {
		if grad[V+j] != 0 {
			t.Fatalf("ignored row has gradient %v", grad[V:2*V])
		}
	}
}

func TestAttentionBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	B, T, H, hd := 2, 5, 2, 4
	h := H * hd
	a := attention{B: B, T: T, H: H, hd: hd, rope: model.NewRope(hd, 16, 10000)}
	N := B * T
	qkv, bias, r := randVec(rng, N*3*h, 1), randVec(rng, 2*h, 0.5), randVec(rng, N*h, 1)
	q, k, v, yh, y := make([]float32, N*h), make([]float32, N*h), make([]float32, N*h), make([]float32, N*h), make([]float32, N*h)
	att := make([]float32, B*H*T*T)
	loss := func() float64 { a.forward(y, q, k, v, att, yh, qkv, bias); return dot64(y, r) }
	loss()
	dqkv, dbias := make([]float32, N*3*h), make([]float32, 2*h)
	dq, dk, dv, dyh, datt := make([]float32, N*h), make([]float32, N*h), make([]float32, N*h), make([]float32, N*h), make([]float32, len(att))
	a.backward(dqkv, dbias, r, q, k, v, att, dq, dk, dv, dyh, datt)
	checkGrad(t, "dqkv", qkv, dqkv, loss)
	checkGrad(t, "dbias", bias, dbias, loss)
}

// TestGraphBackward checks the whole model (prelude, adapter on concat, core blocks over the
// grad steps, coda, tied head, loss) against finite differences on a tiny random config.
func TestGraphBackward(t *testing.T) {
	cfg := tinyConfig(t)
	m := randomModel(t, cfg, 11)
	B, T := 2, 6
	rng := rand.New(rand.NewPCG(3, 4))
	ids, labels := make([]int, B*T), make([]int, B*T)
	for i := range ids {
		ids[i], labels[i] = rng.IntN(cfg.PaddedVocabSize), rng.IntN(cfg.PaddedVocabSize)
	}
	labels[3] = ignoreIndex
	s0 := randVec(rng, B*T*cfg.NEmbd, 0.6)
	g, err := NewGraph(m, B, T, 2)
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		l, _, err := g.Forward(ids, labels, s0, 0, 2) // n = 0: truncation would make the numeric gradient differ
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss()
	g.Backward()
	for _, name := range []string{"transformer.wte.weight", "transformer.adapter.weight", "transformer.ln_f.weight",
		"transformer.prelude.0.attn.Wqkv.weight", "transformer.prelude.0.norm_1.weight",
		"transformer.core_block.0.attn.qk_bias", "transformer.core_block.1.mlp.fc.weight",
		"transformer.core_block.1.norm_4.weight", "transformer.coda.0.mlp.proj.weight", "transformer.coda.0.attn.proj.weight"} {
		p, ok := m.Lookup(name)
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		grad := append([]float32(nil), m.Gradient(p)...)
		checkGrad(t, name, m.Values(p), grad, loss)
	}
}
