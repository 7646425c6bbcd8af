package tasks

import (
	"fmt"
	"math/rand/v2"

	"github.com/latentlab/latent/train"
)

// Batcher feeds a trainer with instances of one task: every row is an instance of a size drawn
// uniformly from [Min, Max], taken from Split and padded with <pad> tokens (label Ignore) to the
// trainer's sequence length. It implements train.Batcher.
type Batcher struct {
	Task     Task
	Min, Max int
	Split    Split
}

// NewBatcher returns a batcher of training instances with sizes in [lo, hi].
func NewBatcher(t Task, lo, hi int) (*Batcher, error) {
	if lo < 1 || hi < lo {
		return nil, fmt.Errorf("tasks: %s: size range [%d, %d] is empty or below 1", t.Name(), lo, hi)
	}
	return &Batcher{Task: t, Min: lo, Max: hi, Split: Train}, nil
}

// SeqLen is the sequence length that holds the largest instance of the batcher.
func (b *Batcher) SeqLen() int { return b.Task.MaxTokens(b.Max) }

// Next draws B instances and lays them out in rows of T tokens.
func (b *Batcher) Next(rng *rand.Rand, B, T int) (train.Batch, error) {
	if need := b.SeqLen(); T < need {
		return train.Batch{}, fmt.Errorf("tasks: %s: instances of size %d need %d tokens, the sequence length is %d", b.Task.Name(), b.Max, need, T)
	}
	batch := train.Batch{Inputs: make([]int, B*T), Labels: make([]int, B*T)}
	for r := 0; r < B; r++ {
		ex, err := Draw(b.Task, rng, b.Min+rng.IntN(b.Max-b.Min+1), b.Split)
		if err != nil {
			return train.Batch{}, err
		}
		row := batch.Inputs[r*T : (r+1)*T]
		labels := batch.Labels[r*T : (r+1)*T]
		copy(row, ex.Inputs)
		copy(labels, ex.Labels)
		for i := len(ex.Inputs); i < T; i++ {
			row[i], labels[i] = PadID, Ignore
		}
	}
	return batch, nil
}
