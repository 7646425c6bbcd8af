package tasks

import (
	"fmt"
	"math/rand/v2"
)

// CarryStress is the addition stress set: for every length n of the longer operand in
// [1, maxDigits], every length of the shorter one in [1, n] and every longest carry chain in
// [0, n], perCell sums drawn at random among those with exactly that shape (the Difficulty of
// each example is its longest chain). Uniform random sums rarely have long chains; this set
// gives every chain length the same weight, so an exit rule that stops a digit before its
// carry arrives cannot hide.
func (a *Addition) CarryStress(seed uint64, maxDigits, perCell int) ([]Example, error) {
	if maxDigits < 1 || perCell < 1 {
		return nil, fmt.Errorf("tasks: addition: carry stress set needs positive digits and sums per cell, got %d and %d", maxDigits, perCell)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5743_a11c))
	var set []Example
	for n := 1; n <= maxDigits; n++ {
		for m := 1; m <= n; m++ {
			for chain := 0; chain <= n; chain++ {
				for range perCell {
					ex, err := a.drawChain(rng, n, m, chain)
					if err != nil {
						return nil, err
					}
					set = append(set, ex)
				}
			}
		}
	}
	return set, nil
}

// drawChain draws x (n digits) + y (m digits), in random operand order, whose longest carry
// chain is exactly chain: a chain of that length is planted at a random start among the
// positions where it fits, the other digits are random, and a draw whose chains come out
// longer is drawn again.
func (a *Addition) drawChain(rng *rand.Rand, n, m, chain int) (Example, error) {
	for range 10000 {
		x, y := randomNumber(rng, n), randomNumber(rng, m)
		if chain > 0 {
			x, y = plantChain(rng, []byte(x), []byte(y), chain)
		}
		if rng.IntN(2) == 1 {
			x, y = y, x
		}
		ex := a.layout(x, y)
		if ex.Difficulty == chain {
			return ex, nil
		}
	}
	return Example{}, fmt.Errorf("tasks: addition: no %d+%d-digit sum with a longest carry chain of %d found", n, m, chain)
}

// plantChain rewrites digits of x (n digits) and y (m ≤ n digits, most significant first) so that
// a chain of exactly chain carries starts at a random position below m: the first digit pair
// carries on its own, the next chain−1 positions carry given a carry in (in half the draws they
// only propagate it, digit sum 9), the position after it stops it. Leading digits stay nonzero.
func plantChain(rng *rand.Rand, x, y []byte, chain int) (string, string) {
	n, m := len(x), len(y)
	start := rng.IntN(min(m, n-chain+1)) // a chain starts where both operands have a digit
	set := func(i, dx, dy int) {         // digit i from the least significant end
		x[n-1-i] = byte('0' + dx)
		if i < m {
			y[m-1-i] = byte('0' + dy)
		}
	}
	pair := func(i, lo, hi int) { // a digit pair whose sum lies in [lo, hi], leading digits nonzero
		for {
			dx, dy := rng.IntN(10), rng.IntN(10)
			if i >= m {
				dy = 0
			}
			if s := dx + dy; s >= lo && s <= hi && (i != n-1 || dx > 0) && (i != m-1 || dy > 0 || m == 1) {
				set(i, dx, dy)
				return
			}
		}
	}
	pass := 18 // every second draw only passes the carry on: the digit at the chain's end then
	if rng.IntN(2) == 0 {
		pass = 9 // depends on the pair at its start, the longest dependency a sum can have
	}
	pair(start, 10, 18)
	for i := start + 1; i < start+chain; i++ {
		pair(i, 9, pass)
	}
	if i := start + chain; i < n {
		pair(i, 0, 8)
	}
	return string(x), string(y)
}
