package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStepRowsEqualsStep batches rows of five sequences at different positions, recurrences
// and row counts (a one-token decode, a short prefill, a prefill past kernels.MaxRowwise) and
// checks every prelude output, every new state, every cache entry and the batched coda and
// head's logits (the last position's and all positions') against running each sequence alone,
// bitwise, for fp32, bf16 and q8_0 weights.
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
		preludes := make([]Row, len(seqs))
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
			preludes[i] = Row{IDs: ids[sq.prompt:], N: sq.n, Pos: sq.prompt, Cache: batched[i]}
		}
		es, err := m.PreludeRows(preludes)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range preludes {
			if e := mustPrelude(t, m, r.IDs, r.Pos, alone[i]); !slices.Equal(es[i], e) {
				t.Errorf("%s: row %d: batched prelude differs from running alone", file, i)
			}
			rows[i] = Row{S: m.InitialState(r.N, 1, rng), E: es[i], N: r.N, Pos: r.Pos, T: seqs[i].t, Cache: batched[i]}
		}
		got := m.StepRows(rows)
		logits := m.LastLogitsRows(rows)
		all := m.LogitsRows(rows)
		h := m.Config.NEmbd
		for i, r := range rows {
			hidden := m.Coda(r.S, r.N, r.Pos, alone[i])
			if !slices.Equal(logits[i], m.Head(hidden[(r.N-1)*h:], 1)) {
				t.Errorf("%s: row %d: batched coda and head differ from running alone", file, i)
			}
			if !slices.Equal(all[i], m.Head(hidden, r.N)) {
				t.Errorf("%s: row %d: batched coda and head over all positions differ from running alone", file, i)
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

// TestPreludeRowsRefusesBadInput checks that a bad row fails the whole call before anything
// runs: no cache is written.
func TestPreludeRowsRefusesBadInput(t *testing.T) {
	m := loadTiny(t, "model.safetensors")
	good, bad := mustCache(t, m, "full"), mustCache(t, m, "full")
	for _, r := range []Row{
		{IDs: []int{1, m.Config.PaddedVocabSize}, N: 2, Cache: bad},
		{IDs: []int{1, 2}, N: 2, Pos: m.Config.BlockSize - 1, Cache: bad},
		{IDs: []int{1, 2}, N: 3, Cache: bad},
		{N: 0, Cache: bad},
	} {
		if _, err := m.PreludeRows([]Row{{IDs: []int{3}, N: 1, Cache: good}, r}); err == nil {
			t.Errorf("row %+v: no error", r)
		}
	}
	if good.Len() != 0 || good.Entries() != 0 {
		t.Errorf("a refused call wrote %d cache entries", good.Entries())
	}
}
