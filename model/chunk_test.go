package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/latentlab/latent/kernels"
)

// sameCache compares every slot of two caches, keys and values, bitwise.
func sameCache(a, b *Cache) error {
	if a.seen != b.seen || len(a.slots) != len(b.slots) {
		return fmt.Errorf("caches hold %d positions in %d slots and %d in %d", a.seen, len(a.slots), b.seen, len(b.slots))
	}
	for idx, sa := range a.slots {
		sb := b.slots[idx]
		if sb == nil || len(sa.keys) != len(sb.keys) {
			return fmt.Errorf("slot %d: present in one cache only, or of another length", idx)
		}
		for p := range sa.keys {
			if !slices.Equal(sa.keys[p], sb.keys[p]) || !slices.Equal(sa.values[p], sb.values[p]) {
				return fmt.Errorf("slot %d, position %d: keys or values differ", idx, p)
			}
		}
	}
	return nil
}

func TestChunkBounds(t *testing.T) {
	cases := []struct {
		n, size int
		want    []int
	}{
		{10, 64, []int{0, 10}},
		{64, 64, []int{0, 64}},
		{64 + MinChunkRows - 1, 64, []int{0, 64 + MinChunkRows - 1}}, // the short rest joins
		{64 + MinChunkRows, 64, []int{0, 64, 64 + MinChunkRows}},
		{200, 64, []int{0, 64, 128, 200}},
		{2*MinChunkRows - 1, 1, []int{0, 2*MinChunkRows - 1}}, // size raised to MinChunkRows
		{3 * MinChunkRows, 1, []int{0, MinChunkRows, 2 * MinChunkRows, 3 * MinChunkRows}},
	}
	for _, c := range cases {
		got := ChunkBounds(c.n, c.size)
		if !slices.Equal(got, c.want) {
			t.Errorf("ChunkBounds(%d, %d) = %v, want %v", c.n, c.size, got, c.want)
		}
		for i := 1; i < len(got) && len(got) > 2; i++ {
			if got[i]-got[i-1] < MinChunkRows {
				t.Errorf("ChunkBounds(%d, %d): chunk %d has %d rows, fewer than %d", c.n, c.size, i-1, got[i]-got[i-1], MinChunkRows)
			}
		}
	}
}

// TestProductRowsDoNotDependOnRowCount is the kernel property chunked prefill rests on: a
// product of at least MinChunkRows rows computes each row bitwise as a product of more rows
// holding it does, wherever the row sits, for fp32 and bf16 weights and depths across several
// of the packed product's k-slabs.
func TestProductRowsDoNotDependOnRowCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const m = 3*MinChunkRows + 7
	for _, shape := range [][2]int{{64, 160}, {3000, 96}, {1100, 300}} {
		k, n := shape[0], shape[1]
		x := make([]float32, m*k)
		w := make([]float32, n*k)
		wb := make([]uint16, n*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64())
			wb[i] = kernels.Float32ToBF16(w[i])
		}
		products := map[string]func(out, x []float32, rows int){
			"fp32": func(out, x []float32, rows int) { kernels.Linear(out, x, w, rows, k, n) },
			"bf16": func(out, x []float32, rows int) { kernels.LinearBF16(out, x, wb, rows, k, n) },
		}
		for name, product := range products {
			whole := make([]float32, m*n)
			product(whole, x, m)
			for _, span := range [][2]int{{0, MinChunkRows}, {5, 5 + MinChunkRows}, {MinChunkRows, 3 * MinChunkRows}, {m - MinChunkRows - 1, m}} {
				lo, hi := span[0], span[1]
				part := make([]float32, (hi-lo)*n)
				product(part, x[lo*k:hi*k], hi-lo)
				if !slices.Equal(part, whole[lo*n:hi*n]) {
					t.Errorf("%s %d×%d: rows %d..%d alone differ from the same rows of a %d-row product", name, k, n, lo, hi, m)
				}
			}
		}
	}
}

// TestChunkedPrefillEqualsWhole runs a prompt's prefill whole and in chunks (the prelude, each
// recurrence and the coda chunk by chunk, each chunk through all blocks before the next, as the
// Batcher does) and checks that the prelude outputs, the states, the last position's logits,
// every position's logits, every KV cache entry and the next decode step agree bitwise, for
// fp32 and bf16 weights and cache strategies with and without KV sharing; a strategy that is
// not Chunkable runs its recurrences whole, its prelude and coda still in chunks.
func TestChunkedPrefillEqualsWhole(t *testing.T) {
	const S, steps, chunk = 150, 5, 40
	for _, file := range []string{"model.safetensors", "model.bf16.safetensors"} {
		m := loadTiny(t, file)
		rng := rand.New(rand.NewPCG(5, 6))
		ids := make([]int, S+1)
		for i := range ids {
			ids[i] = rng.IntN(m.Config.VocabSize)
		}
		s0 := m.InitialState(S, 1, rng)
		bounds := ChunkBounds(S, chunk)
		if len(bounds) < 4 {
			t.Fatalf("chunks %v: want at least 3", bounds)
		}
		for _, strategy := range []string{"full", "latest-m4-compress-s4", "latest-m4-compress-s6", "compress-anchor", "compress-s2"} {
			whole, chunked := mustCache(t, m, strategy), mustCache(t, m, strategy)
			w := prefillWhole(t, m, ids[:S], s0, steps, whole)
			c := prefillChunked(t, m, ids[:S], s0, steps, bounds, chunked)
			for _, part := range []struct {
				name       string
				want, have []float32
			}{{"prelude", w.e, c.e}, {"final states", w.s, c.s}, {"logits", w.last, c.last}, {"logits of all positions", w.all, c.all}} {
				if !slices.Equal(part.want, part.have) {
					t.Errorf("%s %s: %s differ", file, strategy, part.name)
				}
			}
			if err := sameCache(whole, chunked); err != nil {
				t.Errorf("%s %s: %v", file, strategy, err)
			}
			decode := func(c *Cache) []float32 {
				out, err := m.Forward(ids[S:], ForwardOptions{Steps: steps, Pos: S, Cache: c})
				if err != nil {
					t.Fatal(err)
				}
				return out.Logits
			}
			if !slices.Equal(decode(whole), decode(chunked)) {
				t.Errorf("%s %s: the decode step after the prefill differs", file, strategy)
			}
		}
	}
}

// prefill is what a prefill computes: the prelude output, the final states, the last
// position's logits and every position's logits.
type prefill struct{ e, s, last, all []float32 }

// prefillWhole runs the prefill of ids from s0 over all positions at once.
func prefillWhole(t *testing.T, m *Model, ids []int, s0 []float32, steps int, c *Cache) prefill {
	S, h := len(ids), m.Config.NEmbd
	var p prefill
	p.e = mustPrelude(t, m, ids, 0, c)
	p.s = slices.Clone(s0)
	for step := range steps {
		p.s = m.Step(p.s, p.e, S, 0, step, c)
	}
	hidden := m.Coda(p.s, S, 0, c)
	p.last, p.all = m.Head(hidden[(S-1)*h:], 1), m.Head(hidden, S)
	return p
}

// prefillChunked runs the prefill of ids from s0 chunk by chunk (bounds), its recurrences whole
// when the cache is not Chunkable. The coda runs twice, as a last-logits and an all-logits call
// would; the second writes the same coda entries again.
func prefillChunked(t *testing.T, m *Model, ids []int, s0 []float32, steps int, bounds []int, c *Cache) prefill {
	S, h := len(ids), m.Config.NEmbd
	stepBounds := bounds
	if !c.Chunkable() {
		stepBounds = []int{0, S}
	}
	var p prefill
	for i := 1; i < len(bounds); i++ {
		p.e = append(p.e, mustPrelude(t, m, ids[bounds[i-1]:bounds[i]], bounds[i-1], c)...)
	}
	p.s = slices.Clone(s0)
	row := Row{E: p.e, N: S, Cache: c}
	for step := range steps {
		row.S, row.T = p.s, step
		next := make([]float32, S*h)
		for i := 1; i < len(stepBounds); i++ {
			r := row.Chunk(stepBounds[i-1], stepBounds[i], h)
			copy(next[stepBounds[i-1]*h:], m.Step(r.S, r.E, r.N, r.Pos, r.T, r.Cache))
		}
		p.s = next
	}
	row.S = p.s
	for i := 1; i < len(bounds); i++ {
		r := row.Chunk(bounds[i-1], bounds[i], h)
		p.last = m.Head(m.Coda(r.S, r.N, r.Pos, r.Cache)[(r.N-1)*h:], 1)
	}
	for i := 1; i < len(bounds); i++ {
		r := row.Chunk(bounds[i-1], bounds[i], h)
		p.all = append(p.all, m.Head(m.Coda(r.S, r.N, r.Pos, r.Cache), r.N)...)
	}
	return p
}

func mustCache(t testing.TB, m *Model, strategy string) *Cache {
	t.Helper()
	c, err := NewCache(m.Config, strategy)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustPrelude(t *testing.T, m *Model, ids []int, pos int, c *Cache) []float32 {
	t.Helper()
	e, err := m.Prelude(ids, pos, c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestChunkableStrategies checks which strategies fold two core blocks of one recurrence onto a
// slot, and that such a strategy indeed changes results when chunked (so Chunkable guards
// something real).
func TestChunkableStrategies(t *testing.T) {
	m := loadTiny(t, "model.safetensors")
	want := map[string]bool{"full": true, "latest-m4": true, "compress-s4": true, "latest-m4-compress-s8": true,
		"compress-anchor": true, "compress-r1": true, "latest-m4-compress-s2": false, "compress-s3": false, "compress-r2": false}
	for name, ok := range want {
		if got := mustCache(t, m, name).Chunkable(); got != ok {
			t.Errorf("%s: Chunkable %v, want %v", name, got, ok)
		}
	}
	const S, chunk = 2 * MinChunkRows, MinChunkRows
	h := m.Config.NEmbd
	rng := rand.New(rand.NewPCG(7, 8))
	ids := make([]int, S)
	for i := range ids {
		ids[i] = rng.IntN(m.Config.VocabSize)
	}
	s0 := m.InitialState(S, 1, rng)
	whole, chunked := mustCache(t, m, "compress-s2"), mustCache(t, m, "compress-s2")
	e := mustPrelude(t, m, ids, 0, whole)
	mustPrelude(t, m, ids, 0, chunked)
	want0 := m.Step(slices.Clone(s0), e, S, 0, 0, whole)
	row := Row{S: s0, E: e, N: S, Cache: chunked}
	var got []float32
	for _, span := range [][2]int{{0, chunk}, {chunk, S}} {
		c := row.Chunk(span[0], span[1], h)
		got = append(got, m.Step(c.S, c.E, c.N, c.Pos, c.T, c.Cache)...)
	}
	if slices.Equal(got, want0) {
		t.Error("compress-s2: chunked prefill equals the whole one; Chunkable would refuse it for nothing")
	}
}
