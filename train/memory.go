package train

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/latentlab/latent/model"
)

// slab hands out consecutive pieces of one []float32. With a nil buffer it only counts, so the
// same layout code both sizes and carves the graph's memory: the estimate is the allocation.
type slab struct {
	buf []float32
	off int
}

func (s *slab) take(n int) []float32 {
	s.off += n
	if s.buf == nil {
		return nil
	}
	return s.buf[s.off-n : s.off : s.off]
}

// layout carves every activation and scratch buffer of g from s.
func (g *Graph) layout(s *slab, maxK int) {
	cfg, N := g.m.Config, g.N
	h, ffn, V := cfg.NEmbd, cfg.IntermediateSize, cfg.PaddedVocabSize
	att := g.B * cfg.NHeads * g.T * g.T
	block := func() blockActs {
		return blockActs{
			x: s.take(N * h), n1: s.take(N * h), q: s.take(N * h), k: s.take(N * h), v: s.take(N * h),
			att: s.take(att), y: s.take(N * h), a1: s.take(N * h), x1: s.take(N * h), n3: s.take(N * h),
			fc: s.take(N * 2 * ffn), act: s.take(N * ffn), a2: s.take(N * h),
			r1: s.take(N), r2: s.take(N), r3: s.take(N), r4: s.take(N),
		}
	}
	blocks := func(n int) []blockActs {
		out := make([]blockActs, n)
		for i := range out {
			out[i] = block()
		}
		return out
	}
	g.pre = blocks(cfg.NLayersPrelude)
	g.e = s.take(N * h)
	g.embed = g.e
	if len(g.pre) > 0 {
		g.embed = g.pre[0].x
	}
	g.steps = make([]stepActs, max(maxK, 1))
	for j := range g.steps {
		g.steps[j] = stepActs{cat: s.take(N * 2 * h), blocks: blocks(cfg.NLayersCore)}
	}
	g.state, g.rl1 = s.take(N*h), s.take(N)
	g.coda = blocks(cfg.NLayersCoda)
	g.cOut, g.rl2, g.hid = s.take(N*h), s.take(N), s.take(N*h)
	g.lat = g.cOut
	if len(g.coda) > 0 {
		g.lat = g.coda[0].x
	}
	g.logit = s.take(N * V)
	g.s = scratch{
		qkv: s.take(N * 3 * h), yh: s.take(N * h),
		dA: s.take(N * h), dX1: s.take(N * h), dN: s.take(N * h), dY: s.take(N * h),
		dq: s.take(N * h), dk: s.take(N * h), dv: s.take(N * h), dyh: s.take(N * h),
		dAct: s.take(N * ffn), dFC: s.take(N * 2 * ffn), dQKV: s.take(N * 3 * h), dAtt: s.take(att),
		dHidden: s.take(N * h), dCoda: s.take(N * h),
		dState: s.take(N * h), dE: s.take(N * h), dCat: s.take(N * 2 * h),
	}
}

// plan sizes a graph before anything is allocated.
type plan struct {
	cfg        *model.Config
	B, T, maxK int
	floats     int
}

func newPlan(cfg *model.Config, B, T, maxK int) *plan {
	p := &plan{cfg: cfg, B: B, T: T, maxK: maxK}
	var count slab
	(&Graph{m: &Model{Config: cfg}, B: B, T: T, N: B * T}).layout(&count, maxK)
	p.floats = count.off
	return p
}

// build allocates the planned memory in one piece and carves g's buffers from it.
func (p *plan) build(g *Graph) {
	g.layout(&slab{buf: make([]float32, p.floats)}, p.maxK)
	g.ids, g.lbls, g.rowL = make([]int, g.N), make([]int, g.N), make([]float64, g.N)
}

// bytes is the graph's memory: the float32 slab plus token ids, labels and per-row losses.
func (p *plan) bytes() int64 { return int64(p.floats)*4 + int64(p.B*p.T)*(8+8+8) }

// MemoryEstimate is the memory training needs, in bytes, by part.
type MemoryEstimate struct {
	Parameters, Gradients, Optimizer, Activations int64
}

// Total is the sum of the parts.
func (e MemoryEstimate) Total() int64 {
	return e.Parameters + e.Gradients + e.Optimizer + e.Activations
}

func (e MemoryEstimate) String() string {
	return fmt.Sprintf("%s (parameters %s, gradients %s, optimizer %s, activations %s)",
		formatBytes(e.Total()), formatBytes(e.Parameters), formatBytes(e.Gradients), formatBytes(e.Optimizer), formatBytes(e.Activations))
}

// EstimateMemory says how much memory training cfg on batches of B×T tokens with up to maxK
// recurrences with gradient takes: fp32 parameters and gradients, two optimizer moments, and the
// activations of the prelude, maxK recurrences and the coda (independent of the total r).
func EstimateMemory(cfg *model.Config, B, T, maxK int) MemoryEstimate {
	params := cfg.ParameterCount() * 4
	return MemoryEstimate{Parameters: params, Gradients: params, Optimizer: 2 * params,
		Activations: newPlan(cfg, B, T, maxK).bytes()}
}

// CheckMemory refuses an estimate above limit bytes (0 means the memory available now).
func CheckMemory(e MemoryEstimate, limit int64) error {
	if limit <= 0 {
		avail, err := availableMemory()
		if err != nil {
			return nil // no way to know; let the allocation decide
		}
		limit = avail
	}
	if e.Total() > limit {
		return fmt.Errorf("train: this configuration needs about %s, more than the %s available; use a smaller batch, sequence or backprop depth", e, formatBytes(limit))
	}
	return nil
}

// availableMemory reads MemAvailable from /proc/meminfo.
func availableMemory() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: MemAvailable %q: %w", fields[1], err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemAvailable line")
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n/1024)
}
