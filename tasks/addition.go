package tasks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Addition is multi-digit addition with every answer digit predicted at once.
//
// Layout: the operands are aligned least significant digit first, padded with zeros to n+1 digits
// (n the longer operand's length), and interleaved as triples aᵢ bᵢ "=":
//
//	12345+67890=   →   <bos> 5 0 = 4 9 = 3 8 = 2 7 = 1 6 = 0 0 =
//
// The label of the i-th "=" is digit i of the sum (least significant first), here 5 3 2 0 8 0, read
// back as 80235. A digit only depends on the digits at or below it, so a causal model sees all it
// needs, and the work lies in the carries: digit i waits for the carry chain that ends below it.
// Difficulty is the longest run of consecutive carries.
type Addition struct{ vocab *Vocab }

// NewAddition returns the addition task.
func NewAddition() *Addition {
	return &Addition{vocab: NewVocab("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "=")}
}

func (*Addition) Name() string           { return "addition" }
func (a *Addition) Vocab() *Vocab        { return a.vocab }
func (*Addition) TrainSizes() (int, int) { return 1, 10 }
func (*Addition) MaxTokens(size int) int { return 1 + 3*(size+1) }
func (*Addition) SizeName() string       { return "digits" }
func (*Addition) DifficultyName() string { return "longest carry chain" }
func (a *Addition) digit(d int) int      { return a.vocab.mustID("0") + d }

// Generate draws a sum whose longer operand has exactly n digits and whose other operand has
// 1..n digits, uniformly; which operand is longer is a coin flip.
func (a *Addition) Generate(rng *rand.Rand, n int) (Example, error) {
	if n < 1 {
		return Example{}, fmt.Errorf("tasks: addition: size %d must be at least 1 digit", n)
	}
	x, y := randomNumber(rng, n), randomNumber(rng, 1+rng.IntN(n))
	if rng.IntN(2) == 1 {
		x, y = y, x
	}
	return a.layout(x, y), nil
}

// randomNumber returns n decimal digits, most significant first, with a nonzero leading digit
// unless n is 1.
func randomNumber(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	if n > 1 && b[0] == '0' {
		b[0] = byte('1' + rng.IntN(9))
	}
	return string(b)
}

// layout lays out x+y (decimal strings, most significant digit first).
func (a *Addition) layout(x, y string) Example {
	n := max(len(x), len(y))
	ex := Example{Key: x + "+" + y, Size: n}
	ex.add(BOSID, Ignore, 0)
	eq := a.vocab.mustID("=")
	carry, run := 0, 0 // run: consecutive carries ending at the previous digit
	for i := 0; i <= n; i++ {
		dx, dy := digitAt(x, i), digitAt(y, i)
		sum := dx + dy + carry
		ex.add(a.digit(dx), Ignore, 0)
		ex.add(a.digit(dy), Ignore, 0)
		ex.add(eq, a.digit(sum%10), run)
		carry = sum / 10
		run = run*carry + carry
	}
	return ex
}

// digitAt returns digit i of s counted from the least significant end, 0 beyond its length.
func digitAt(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	return int(s[len(s)-1-i] - '0')
}

// Parse reads "A+B" or "A+B=" with decimal operands.
func (a *Addition) Parse(prompt string) (Example, error) {
	text := strings.TrimSuffix(strings.ReplaceAll(prompt, " ", ""), "=")
	x, y, ok := strings.Cut(text, "+")
	if !ok || !isDigits(x) || !isDigits(y) {
		return Example{}, fmt.Errorf("tasks: addition: %q is not of the form A+B= with decimal A and B", prompt)
	}
	return a.layout(x, y), nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ReadingOrder lists the sum digits most significant first.
func (*Addition) ReadingOrder(ex Example) []int {
	pos := ex.AnswerPositions()
	slices.Reverse(pos)
	return pos
}

// Answer reads the predicted digits back as a decimal number, dropping leading zeros.
func (a *Addition) Answer(ex Example, pred []int) string {
	s := strings.TrimLeft(spell(a.vocab, a.ReadingOrder(ex), pred), "0")
	if s == "" {
		return "0"
	}
	return s
}
