package model

import (
	"fmt"

	"github.com/latentlab/latent/kernels"
)

// Row is one sequence's share of a batched recurrence: recurrence T on the state S [N×h] of N
// positions from Pos, given the prelude output E [N×h], with the sequence's own cache. A
// prelude row holds the N token ids IDs instead of S and E.
type Row struct {
	S, E   []float32
	IDs    []int
	N      int
	Pos, T int
	Cache  *Cache
}

// PreludeRows runs the prelude of every row (row.IDs at row.Pos.., writing row.Cache's prelude
// slots) and returns their outputs e, in order, each equal to Prelude(row.IDs, row.Pos,
// row.Cache) bitwise; short rows share each block's products as in StepRows. It checks every
// row (CheckInput) before it computes anything.
func (m *Model) PreludeRows(rows []Row) ([][]float32, error) {
	for _, r := range rows {
		if err := m.CheckInput(r.IDs, r.Pos); err != nil {
			return nil, err
		}
		if r.N != len(r.IDs) {
			return nil, fmt.Errorf("model: a prelude row of %d positions holds %d ids", r.N, len(r.IDs))
		}
	}
	return batchRows(rows, func(r Row) []float32 { return m.preludePass([]Row{r}, false) },
		func(batch []Row) [][]float32 {
			return splitRows(m.preludePass(batch, true), batch, m.Config.NEmbd, func(r Row) int { return r.N })
		}), nil
}

// LogitsRows returns for every row the logits of all its positions after the coda [N×V], each
// equal to Head(Coda(row.S, row.N, row.Pos, row.Cache), row.N) bitwise; short rows share each
// coda block's and the head's products, as in StepRows.
func (m *Model) LogitsRows(rows []Row) [][]float32 {
	V := m.Config.PaddedVocabSize
	return batchRows(rows, func(r Row) []float32 { return m.Head(m.Coda(r.S, r.N, r.Pos, r.Cache), r.N) },
		func(batch []Row) [][]float32 {
			x := m.codaPass(batch, true)
			n := len(x) / m.Config.NEmbd
			logits := make([]float32, n*V)
			m.Weights.Head.ApplyRows(logits, x, n)
			return splitRows(logits, batch, V, func(r Row) int { return r.N })
		})
}

// StepRows runs one recurrence for every row and returns their new states, in order: each
// equals Step(row.S, row.E, row.N, row.Pos, row.T, row.Cache) bitwise. Rows of at most
// kernels.MaxRowwise positions go through the adapter and each core block together, in one
// matrix product per weight matrix (the weights read once for all), each row at its own
// recurrence, position and cache slots; longer rows (prefills) run on their own.
func (m *Model) StepRows(rows []Row) [][]float32 {
	return batchRows(rows, func(r Row) []float32 { return m.Step(r.S, r.E, r.N, r.Pos, r.T, r.Cache) },
		func(batch []Row) [][]float32 {
			return splitRows(m.stepPass(batch, true), batch, m.Config.NEmbd, func(r Row) int { return r.N })
		})
}

// LastLogitsRows returns for every row the logits of its last position after the coda, each
// equal to Head(last row of Coda(row.S, row.N, row.Pos, row.Cache), 1) bitwise (row.E and row.T
// are not read). Rows of at most kernels.MaxRowwise positions share each coda block's and the
// head's products, as in StepRows.
func (m *Model) LastLogitsRows(rows []Row) [][]float32 {
	h, V := m.Config.NEmbd, m.Config.PaddedVocabSize
	return batchRows(rows, func(r Row) []float32 {
		return m.Head(m.Coda(r.S, r.N, r.Pos, r.Cache)[(r.N-1)*h:], 1)
	}, func(batch []Row) [][]float32 {
		x := m.codaPass(batch, true)
		last := make([]float32, len(batch)*h)
		at := 0
		for i, r := range batch {
			at += r.N
			copy(last[i*h:(i+1)*h], x[(at-1)*h:at*h])
		}
		logits := make([]float32, len(batch)*V)
		m.Weights.Head.ApplyRows(logits, last, len(batch))
		return splitRows(logits, batch, V, func(Row) int { return 1 })
	})
}

// batchRows runs the rows of more than kernels.MaxRowwise positions one by one with alone and
// the others together with together, returning the results in the rows' order.
func batchRows(rows []Row, alone func(Row) []float32, together func([]Row) [][]float32) [][]float32 {
	out := make([][]float32, len(rows))
	var small []int
	var batch []Row
	for i, r := range rows {
		if r.N > kernels.MaxRowwise {
			out[i] = alone(r)
		} else {
			small, batch = append(small, i), append(batch, r)
		}
	}
	if len(batch) > 0 {
		for k, res := range together(batch) {
			out[small[k]] = res
		}
	}
	return out
}

// splitRows cuts stacked results x (width w per position) into each row's share of n(row)
// positions.
func splitRows(x []float32, rows []Row, w int, n func(Row) int) [][]float32 {
	out := make([][]float32, len(rows))
	at := 0
	for i, r := range rows {
		k := n(r)
		out[i] = x[at*w : (at+k)*w : (at+k)*w]
		at += k
	}
	return out
}

// preludePass embeds the ids of the rows, stacked, and runs the prelude blocks on them, each
// row writing its own prelude slots.
func (m *Model) preludePass(rows []Row, rowwise bool) []float32 {
	h := m.Config.NEmbd
	p := &pass{rowwise: rowwise}
	for _, r := range rows {
		p.rows += r.N
	}
	e := make([]float32, p.rows*h)
	at := 0
	for _, r := range rows {
		m.embed(e[at*h:], r.IDs)
		at += r.N
	}
	for i := range m.Weights.Prelude {
		p.segs = p.segs[:0]
		for _, r := range rows {
			p.segs = append(p.segs, segment{n: r.N, pos: r.Pos, slot: i, cache: r.Cache})
		}
		m.blockPass(&m.Weights.Prelude[i], e, p)
	}
	return e
}

// codaPass maps the final states of the rows, stacked, to the head's input: ln_f → coda
// blocks (each row writing its own coda slots) → ln_f.
func (m *Model) codaPass(rows []Row, rowwise bool) []float32 {
	h := m.Config.NEmbd
	p := &pass{rowwise: rowwise}
	for _, r := range rows {
		p.rows += r.N
	}
	x := make([]float32, p.rows*h)
	at := 0
	for _, r := range rows {
		copy(x[at*h:], r.S[:r.N*h])
		at += r.N
	}
	eps := float32(m.Config.NormEps)
	rmsNormRows(x, x, m.Weights.LnF, p.rows, eps)
	for i := range m.Weights.Coda {
		p.segs = p.segs[:0]
		for _, r := range rows {
			p.segs = append(p.segs, segment{n: r.N, pos: r.Pos, slot: -(i + 1), cache: r.Cache})
		}
		m.blockPass(&m.Weights.Coda[i], x, p)
	}
	rmsNormRows(x, x, m.Weights.LnF, p.rows, eps)
	return x
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

// MinChunkRows is the fewest positions of a prefill chunk. Products of at least this many rows
// take the packed path, so each row of a chunk comes out bitwise as it does within the whole
// prompt's product, and chunks are never short enough to be mistaken for rows that share a
// batched, row-by-row product (kernels.MaxRowwise). It is the one constant that follows
// MaxRowwise when the kernels raise it.
const MinChunkRows = max(kernels.MaxFewRows, kernels.MaxRowwise) + 1

// ChunkBounds cuts n positions into consecutive chunks of size positions, returning the
// chunk boundaries 0 = b[0] < b[1] < … < b[len-1] = n. A last piece shorter than MinChunkRows
// joins the chunk before it; size is raised to MinChunkRows. Prompts of fewer than
// size + MinChunkRows positions stay whole.
func ChunkBounds(n, size int) []int {
	size = max(size, MinChunkRows)
	bounds := []int{0}
	for at := 0; at < n; {
		next := min(at+size, n)
		if n-next < MinChunkRows {
			next = n
		}
		bounds = append(bounds, next)
		at = next
	}
	return bounds
}

// Chunk is the row's share of positions lo..hi−1 (of its S, E and IDs).
func (r Row) Chunk(lo, hi, h int) Row {
	c := r
	if r.S != nil {
		c.S = r.S[lo*h : hi*h]
	}
	if r.IDs != nil {
		c.IDs = r.IDs[lo:hi]
	}
	if r.E != nil {
		c.E = r.E[lo*h : hi*h]
	}
	c.N, c.Pos = hi-lo, r.Pos+lo
	return c
}
