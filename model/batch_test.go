package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStepRowsEqualsStep batches rows of five sequences at different positions, recurrences
// and row counts (a one-token decode, a short prefill, a prefill past kernels.MaxRowwise) and
// checks every new state, every cache entry and the batched coda and head's logits against
// running each sequence alone, bitwise, for fp32, bf16 and q8_0 weights.
func TestStepRowsEqualsStep(t *testing.T) {
	for _, file := range []string{"model.safetensors", "model.bf16.safetensors", "q8_0"} {
		var m *Model
		if file == "q8_0" {
			_, m = convertTiny(t, file)
		} else {
			m = loadTiny(t, file)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		type seq struct{ prompt, n, t int } // prompt positions already cached, rows now, recurrence
		seqs := []seq{{5, 1, 3}, {0, 4, 0}, {9, 1, 7}, {0, 12, 2}, {2, 3, 1}}
		alone := make([]*Cache, len(seqs))
		batched := make([]*Cache, len(seqs))
		rows := make([]Row, len(seqs))
		for i, sq := range seqs {
			ids := make([]int, sq.prompt+sq.n)
			for k := range ids {
				ids[k] = rng.IntN(m.Config.VocabSize)
			}
			for _, c := range []**Cache{&alone[i], &batched[i]} {
				var err error
				if *c, err = NewCache(m.Config, "full"); err != nil {
					t.Fatal(err)
				}
				if sq.prompt > 0 {
					if _, err := m.Forward(ids[:sq.prompt], ForwardOptions{Steps: sq.t + 1, Cache: *c}); err != nil {
						t.Fatal(err)
					}
				}
			}
			e, err := m.Prelude(ids[sq.prompt:], sq.prompt, batched[i])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Prelude(ids[sq.prompt:], sq.prompt, alone[i]); err != nil {
				t.Fatal(err)
			}
			s := m.InitialState(sq.n, 1, rng)
			rows[i] = Row{S: s, E: e, N: sq.n, Pos: sq.prompt, T: sq.t, Cache: batched[i]}
		}
		got := m.StepRows(rows)
		logits := m.LastLogitsRows(rows)
		h := m.Config.NEmbd
		for i, r := range rows {
			wantLogits := m.Head(m.Coda(r.S, r.N, r.Pos, alone[i])[(r.N-1)*h:], 1)
			if !slices.Equal(logits[i], wantLogits) {
				t.Errorf("%s: row %d: batched coda and head differ from running alone", file, i)
			}
		}
		for i, r := range rows {
			want := m.Step(r.S, r.E, r.N, r.Pos, r.T, alone[i])
			if !slices.Equal(got[i], want) {
				t.Errorf("%s: row %d (%d positions at %d, step %d) differs from stepping alone", file, i, r.N, r.Pos, r.T)
			}
			if err := sameCache(alone[i], batched[i]); err != nil {
				t.Errorf("%s: row %d: %v", file, i, err)
			}
		}
	}
}
