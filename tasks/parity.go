package tasks

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Parity is prefix parity (the "prefix sums" task of the Deep Thinking papers): the input is a
// bit string, and the answer at every bit is the XOR of the bits so far.
//
// Layout for n bits: <bos> b₀ b₁ … bₙ₋₁, with the label of bᵢ the token "0" or "1" of
// b₀ ⊕ … ⊕ bᵢ. Bits are iid uniform. Difficulty is the length n: a model that propagates the
// parity one position per layer needs about n layer applications.
type Parity struct{ vocab *Vocab }

// NewParity returns the prefix parity task.
func NewParity() *Parity { return &Parity{vocab: NewVocab("0", "1")} }

func (*Parity) Name() string           { return "parity" }
func (p *Parity) Vocab() *Vocab        { return p.vocab }
func (*Parity) TrainSizes() (int, int) { return 16, 32 }
func (*Parity) MaxTokens(size int) int { return size + 1 }
func (*Parity) SizeName() string       { return "bits" }
func (*Parity) DifficultyName() string { return "bits" }
func (p *Parity) bit(b int) int        { return p.vocab.mustID("0") + b }
func (p *Parity) bitOf(id int) (int, bool) {
	return id - p.vocab.mustID("0"), id == p.bit(0) || id == p.bit(1)
}

// Generate draws n uniform bits.
func (p *Parity) Generate(rng *rand.Rand, n int) (Example, error) {
	if n < 1 {
		return Example{}, fmt.Errorf("tasks: parity: size %d must be at least 1 bit", n)
	}
	bits := make([]int, n)
	for i := range bits {
		bits[i] = int(rng.Uint64() & 1)
	}
	return p.layout(bits), nil
}

func (p *Parity) layout(bits []int) Example {
	ex := Example{Size: len(bits)}
	ex.add(BOSID, Ignore, 0)
	acc := 0
	for i, b := range bits {
		acc ^= b
		ex.add(p.bit(b), p.bit(acc), i+1)
	}
	ex.Key = names(p.vocab, ex.Inputs[1:])
	return ex
}

// Parse reads a string of 0s and 1s; spaces and a trailing "=" are ignored.
func (p *Parity) Parse(prompt string) (Example, error) {
	ids, err := tokenize(p.vocab, strings.TrimSuffix(strings.TrimSpace(prompt), "="))
	if err != nil {
		return Example{}, fmt.Errorf("tasks: parity: %q: %w", prompt, err)
	}
	if len(ids) == 0 {
		return Example{}, fmt.Errorf("tasks: parity: %q holds no bits", prompt)
	}
	bits := make([]int, len(ids))
	for i, id := range ids {
		b, ok := p.bitOf(id)
		if !ok {
			return Example{}, fmt.Errorf("tasks: parity: %q: token %d is not a bit", prompt, i)
		}
		bits[i] = b
	}
	return p.layout(bits), nil
}

// ReadingOrder is the order of the bits.
func (*Parity) ReadingOrder(ex Example) []int { return ex.AnswerPositions() }

// Answer writes the predicted prefix parities as a bit string.
func (p *Parity) Answer(ex Example, pred []int) string {
	return spell(p.vocab, p.ReadingOrder(ex), pred)
}
