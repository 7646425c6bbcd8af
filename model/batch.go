package model

import "github.com/latentlab/latent/kernels"

// Row is one sequence's share of a batched recurrence: recurrence T on the state S [N×h] of N
// positions from Pos, given the prelude output E [N×h], with the sequence's own cache.
type Row struct {
	S, E   []float32
	N      int
	Pos, T int
	Cache  *Cache
}

// StepRows runs one recurrence for every row and returns their new states, in order: each
// equals Step(row.S, row.E, row.N, row.Pos, row.T, row.Cache) bitwise. Rows of at most
// kernels.MaxRowwise positions go through the adapter and each core block together, in one
// matrix product per weight matrix (the weights read once for all), each row at its own
// recurrence, position and cache slots; longer rows (prefills) run on their own.
func (m *Model) StepRows(rows []Row) [][]float32 {
	out := make([][]float32, len(rows))
	var small []int
	for i, r := range rows {
		if r.N > kernels.MaxRowwise {
			out[i] = m.Step(r.S, r.E, r.N, r.Pos, r.T, r.Cache)
		} else {
			small = append(small, i)
		}
	}
	if len(small) == 0 {
		return out
	}
	batch := make([]Row, len(small))
	for k, i := range small {
		batch[k] = rows[i]
	}
	x := m.stepPass(batch, true)
	h, at := m.Config.NEmbd, 0
	for k, i := range small {
		n := batch[k].N
		out[i] = x[at*h : (at+n)*h : (at+n)*h]
		at += n
	}
	return out
}

// stepPass runs one recurrence on the rows stacked: core blocks applied to
// adapter(concat(s, e)), each row's core block j writing its own slot for recurrence T.
func (m *Model) stepPass(rows []Row, rowwise bool) []float32 {
	h := m.Config.NEmbd
	p := &pass{rowwise: rowwise}
	for _, r := range rows {
		p.rows += r.N
	}
	cat := make([]float32, p.rows*2*h)
	at := 0
	for _, r := range rows {
		for i := 0; i < r.N; i++ {
			copy(cat[(at+i)*2*h:], r.S[i*h:(i+1)*h])
			copy(cat[(at+i)*2*h+h:], r.E[i*h:(i+1)*h])
		}
		at += r.N
	}
	x := make([]float32, p.rows*h)
	p.apply(&m.Weights.Adapter, x, cat)
	nPre, nCore := len(m.Weights.Prelude), len(m.Weights.Core)
	for j := range m.Weights.Core {
		p.segs = p.segs[:0]
		for _, r := range rows {
			p.segs = append(p.segs, segment{n: r.N, pos: r.Pos, slot: nPre + nCore*r.T + j, cache: r.Cache})
		}
		m.blockPass(&m.Weights.Core[j], x, p)
	}
	return x
}
