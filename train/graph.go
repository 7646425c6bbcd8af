package train

import (
	"fmt"

	"github.com/latentlab/latent/model"
)

// blockActs are the activations one sandwich block keeps for its backward pass. x is the block's
// input; the output goes to the next block's x (or the stage's output buffer).
type blockActs struct {
	x, n1, q, k, v, att, y, a1, x1, n3, fc, act, a2 []float32
	r1, r2, r3, r4                                  []float32 // rstd of norm_1..norm_4 per row
}

// stepActs are the activations of one recurrence with gradient: the adapter input and the core
// blocks (blocks[0].x is the adapter output).
type stepActs struct {
	cat    []float32 // [N×2h] concat(s, e)
	blocks []blockActs
}

// scratch holds buffers used inside one block at a time, shared by every block.
type scratch struct {
	qkv, yh          []float32 // forward: raw Wqkv output [N×3h], head-major attention output [N×h]
	dA, dX1, dN, dY  []float32 // [N×h]
	dq, dk, dv, dyh  []float32 // head-major [N×h]
	dAct, dFC, dQKV  []float32 // [N×ffn], [N×2ffn], [N×3h]
	dAtt             []float32 // [B·H·T·T]
	dHidden, dCoda   []float32 // [N×h]
	dState, dE, dCat []float32 // [N×h], [N×h], [N×2h]
}

// Graph runs the training forward and backward passes of a model on batches of B sequences of
// T tokens. All activations are allocated once: a pass allocates nothing, and steps without
// gradient reuse the first grad step's buffers, so memory depends on k but not on r.
type Graph struct {
	m     *Model
	B, T  int
	N     int // B·T rows
	attn  attention
	ids   []int
	lbls  []int
	embed []float32 // prelude input when the prelude has blocks; else e itself
	pre   []blockActs
	e     []float32 // prelude output [N×h]
	steps []stepActs
	state []float32 // the recurrent state [N×h]; after a forward, s_r
	rl1   []float32 // rstd of ln_f on s_r
	lat   []float32 // ln_f(s_r): the coda input
	coda  []blockActs
	cOut  []float32 // coda output
	rl2   []float32 // rstd of the second ln_f
	hid   []float32 // ln_f(coda output): the head input
	logit []float32 // [N×V]; the backward pass turns it into d loss / d logits
	rowL  []float64
	s     scratch
	k     int // grad steps of the last forward
}

// NewGraph allocates every buffer for batches of B×T tokens and up to maxK recurrences with
// gradient.
func NewGraph(m *Model, B, T, maxK int) (*Graph, error) {
	cfg := m.Config
	if B < 1 || T < 1 || T > cfg.BlockSize {
		return nil, fmt.Errorf("train: batch %d × %d tokens: need B ≥ 1 and 1 ≤ T ≤ block_size %d", B, T, cfg.BlockSize)
	}
	p := newPlan(cfg, B, T, maxK)
	g := &Graph{m: m, B: B, T: T, N: B * T}
	g.attn = attention{B: B, T: T, H: cfg.NHeads, hd: cfg.HeadSize(), rope: model.NewRope(cfg.HeadSize(), cfg.BlockSize, cfg.RopeBase)}
	p.build(g)
	return g, nil
}

// MaxK is the largest number of grad steps the graph holds activations for.
func (g *Graph) MaxK() int { return len(g.steps) }

// Forward runs the model on inputs with n recurrences without gradient and then k with
// gradient, starting from state s0 [N×h] (copied), and returns the mean cross-entropy over the
// labels that are not -100 and their count. Inputs and labels hold B·T token ids.
func (g *Graph) Forward(inputs, labels []int, s0 []float32, n, k int) (float64, int, error) {
	if err := g.check(inputs, labels, s0, n, k); err != nil {
		return 0, 0, err
	}
	copy(g.ids, inputs)
	copy(g.lbls, labels)
	p, cfg, h := &g.m.P, g.m.Config, g.m.Config.NEmbd
	embedForward(g.embed, g.ids, p.Wte, h, cfg.EmbedScale())
	g.stageForward(p.Prelude, g.pre, g.e)
	copy(g.state, s0)
	for t := 0; t < n; t++ {
		g.stepForward(&g.steps[0])
	}
	for j := 0; j < k; j++ {
		g.stepForward(&g.steps[j])
	}
	g.k = k
	eps := float32(cfg.NormEps)
	rmsnormForward(g.lat, g.rl1, g.state, p.LnF, h, eps)
	g.stageForward(p.Coda, g.coda, g.cOut)
	rmsnormForward(g.hid, g.rl2, g.cOut, p.LnF, h, eps)
	V := cfg.PaddedVocabSize
	linearForward(g.logit, g.hid, p.Head, g.N, h, V)
	loss, count := crossEntropy(g.logit, g.lbls, V, g.rowL)
	return loss, count, nil
}

func (g *Graph) check(inputs, labels []int, s0 []float32, n, k int) error {
	cfg := g.m.Config
	switch {
	case len(inputs) != g.N || len(labels) != g.N:
		return fmt.Errorf("train: batch holds %d inputs and %d labels, want %d × %d", len(inputs), len(labels), g.B, g.T)
	case len(s0) != g.N*cfg.NEmbd:
		return fmt.Errorf("train: initial state holds %d values, want %d", len(s0), g.N*cfg.NEmbd)
	case n < 0 || k < 0 || k > len(g.steps) || n+k == 0:
		return fmt.Errorf("train: recurrence (n=%d, k=%d): need n, k ≥ 0, n+k ≥ 1 and k ≤ %d", n, k, len(g.steps))
	}
	for i, id := range inputs {
		if id < 0 || id >= cfg.PaddedVocabSize {
			return fmt.Errorf("train: input token %d at index %d is outside the vocabulary [0, %d)", id, i, cfg.PaddedVocabSize)
		}
		if l := labels[i]; l != ignoreIndex && (l < 0 || l >= cfg.PaddedVocabSize) {
			return fmt.Errorf("train: label %d at index %d is outside the vocabulary [0, %d) and not -100", l, i, cfg.PaddedVocabSize)
		}
	}
	return nil
}

// Backward adds the gradient of the last Forward's loss into the model's gradients. Only the k
// grad steps carry gradient; the state entering them is treated as a constant.
func (g *Graph) Backward() {
	p, gr, cfg, h := &g.m.P, &g.m.G, g.m.Config, g.m.Config.NEmbd
	s := &g.s
	linearBackward(s.dHidden, gr.Head, g.logit, g.hid, p.Head, g.N, h, cfg.PaddedVocabSize)
	clear(s.dCoda)
	rmsnormBackward(s.dCoda, gr.LnF, s.dHidden, g.cOut, g.rl2, p.LnF, h)
	g.stageBackward(p.Coda, gr.Coda, g.coda, s.dCoda)
	clear(s.dState)
	rmsnormBackward(s.dState, gr.LnF, s.dCoda, g.state, g.rl1, p.LnF, h)
	clear(s.dE)
	for j := g.k - 1; j >= 0; j-- {
		st := &g.steps[j]
		g.stageBackward(p.Core, gr.Core, st.blocks, s.dState)
		linearBackward(s.dCat, gr.Adapter, s.dState, st.cat, p.Adapter, g.N, 2*h, h)
		for i := 0; i < g.N; i++ {
			copy(s.dState[i*h:(i+1)*h], s.dCat[i*2*h:])
			addInto(s.dE[i*h:(i+1)*h], s.dCat[i*2*h+h:(i+1)*2*h])
		}
	}
	g.stageBackward(p.Prelude, gr.Prelude, g.pre, s.dE)
	embedBackward(gr.Wte, s.dE, g.ids, h, cfg.EmbedScale())
}

// stepForward runs one recurrence on g.state in place: core blocks of adapter(concat(s, e)).
func (g *Graph) stepForward(st *stepActs) {
	h := g.m.Config.NEmbd
	for i := 0; i < g.N; i++ {
		copy(st.cat[i*2*h:], g.state[i*h:(i+1)*h])
		copy(st.cat[i*2*h+h:], g.e[i*h:(i+1)*h])
	}
	linearForward(st.blocks[0].x, st.cat, g.m.P.Adapter, g.N, 2*h, h)
	g.stageForward(g.m.P.Core, st.blocks, g.state)
}

// stageForward runs blocks whose input is already in acts[0].x, writing the last output to out.
func (g *Graph) stageForward(blocks []Block, acts []blockActs, out []float32) {
	for i := range blocks {
		dst := out
		if i+1 < len(acts) {
			dst = acts[i+1].x
		}
		g.blockForward(&blocks[i], &acts[i], dst)
	}
}

// stageBackward turns d (the gradient of the stage's output) into the gradient of its input.
func (g *Graph) stageBackward(blocks, grads []Block, acts []blockActs, d []float32) {
	for i := len(blocks) - 1; i >= 0; i-- {
		g.blockBackward(&blocks[i], &grads[i], &acts[i], d)
	}
}

// blockForward runs one sandwich block on a.x, recording activations, and writes its output:
//
//	x1 = norm_2(x + Attn(norm_1(x)));  out = norm_4(x1 + MLP(norm_3(x1)))
func (g *Graph) blockForward(p *Block, a *blockActs, out []float32) {
	cfg, N, h := g.m.Config, g.N, g.m.Config.NEmbd
	ffn, eps := cfg.IntermediateSize, float32(cfg.NormEps)
	rmsnormForward(a.n1, a.r1, a.x, p.Norm1, h, eps)
	linearForward(g.s.qkv, a.n1, p.Wqkv, N, h, 3*h)
	g.attn.forward(a.y, a.q, a.k, a.v, a.att, g.s.yh, g.s.qkv, p.QKBias)
	linearForward(a.a1, a.y, p.Proj, N, h, h)
	addInto(a.a1, a.x)
	rmsnormForward(a.x1, a.r2, a.a1, p.Norm2, h, eps)

	rmsnormForward(a.n3, a.r3, a.x1, p.Norm3, h, eps)
	linearForward(a.fc, a.n3, p.FC, N, h, 2*ffn)
	swigluForward(a.act, a.fc, ffn)
	linearForward(a.a2, a.act, p.MLPProj, N, ffn, h)
	addInto(a.a2, a.x1)
	rmsnormForward(out, a.r4, a.a2, p.Norm4, h, eps)
}

// blockBackward replaces d, the gradient of the block's output, by the gradient of its input,
// adding parameter gradients into gr.
func (g *Graph) blockBackward(p, gr *Block, a *blockActs, d []float32) {
	cfg, N, h, s := g.m.Config, g.N, g.m.Config.NEmbd, &g.s
	ffn := cfg.IntermediateSize
	clear(s.dA)
	rmsnormBackward(s.dA, gr.Norm4, d, a.a2, a.r4, p.Norm4, h) // dA = d a2
	linearBackward(s.dAct, gr.MLPProj, s.dA, a.act, p.MLPProj, N, ffn, h)
	swigluBackward(s.dFC, s.dAct, a.fc, ffn)
	linearBackward(s.dN, gr.FC, s.dFC, a.n3, p.FC, N, h, 2*ffn)
	copy(s.dX1, s.dA)
	rmsnormBackward(s.dX1, gr.Norm3, s.dN, a.x1, a.r3, p.Norm3, h) // dX1 = d x1

	clear(s.dA)
	rmsnormBackward(s.dA, gr.Norm2, s.dX1, a.a1, a.r2, p.Norm2, h) // dA = d a1
	linearBackward(s.dY, gr.Proj, s.dA, a.y, p.Proj, N, h, h)
	g.attn.backward(s.dQKV, gr.QKBias, s.dY, a.q, a.k, a.v, a.att, s.dq, s.dk, s.dv, s.dyh, s.dAtt)
	linearBackward(s.dN, gr.Wqkv, s.dQKV, a.n1, p.Wqkv, N, h, 3*h)
	copy(d, s.dA)
	rmsnormBackward(d, gr.Norm1, s.dN, a.x, a.r1, p.Norm1, h)
}
