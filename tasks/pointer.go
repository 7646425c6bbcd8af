package tasks

import (
	"fmt"
	"math/rand/v2"
)

// pointerNodes is the number of nodes of a pointer-chasing instance.
const pointerNodes = 16

// Pointer is p-hop pointer chasing: a random cycle through all nodes is listed as edges "x y"
// (y follows x) in random order, then a start node, then one "?" per hop; the label of the j-th
// "?" is the node j hops after the start.
//
//	<bos> c e  a c  e b  b a  > a ? ? ?      labels of the "?"s: c e b
//
// Hop j follows hop j−1, so the answers form a chain of lookups and the depth needed grows with
// the number of hops. Difficulty is the number of hops.
type Pointer struct{ vocab *Vocab }

// NewPointer returns the pointer-chasing task.
func NewPointer() *Pointer {
	nodes := make([]string, pointerNodes)
	for i := range nodes {
		nodes[i] = string(rune('a' + i))
	}
	return &Pointer{vocab: NewVocab(append(nodes, ">", "?")...)}
}

func (*Pointer) Name() string           { return "pointer" }
func (p *Pointer) Vocab() *Vocab        { return p.vocab }
func (*Pointer) TrainSizes() (int, int) { return 1, 8 }
func (*Pointer) MaxTokens(size int) int { return 1 + 2*pointerNodes + 2 + size }
func (*Pointer) SizeName() string       { return "hops" }
func (*Pointer) DifficultyName() string { return "hops" }
func (p *Pointer) node(i int) int       { return p.vocab.mustID("a") + i }

// Generate draws a random cycle, a random order of its edges and a random start.
func (p *Pointer) Generate(rng *rand.Rand, hops int) (Example, error) {
	if hops < 1 {
		return Example{}, fmt.Errorf("tasks: pointer: size %d must be at least 1 hop", hops)
	}
	cycle := rng.Perm(pointerNodes)
	next := make([]int, pointerNodes)
	for i, v := range cycle {
		next[v] = cycle[(i+1)%pointerNodes]
	}
	var ids []int
	for _, x := range rng.Perm(pointerNodes) {
		ids = append(ids, p.node(x), p.node(next[x]))
	}
	ids = append(ids, p.vocab.mustID(">"), p.node(rng.IntN(pointerNodes)))
	for range hops {
		ids = append(ids, p.vocab.mustID("?"))
	}
	return p.layout(ids)
}

// layout checks the structure of ids (edges, ">", start, "?"s) and labels the hops.
func (p *Pointer) layout(ids []int) (Example, error) {
	next := map[int]int{}
	i := 0
	for ; i+1 < len(ids) && p.isNode(ids[i]); i += 2 {
		if !p.isNode(ids[i+1]) {
			return Example{}, fmt.Errorf("edge %d: target %q is not a node", i/2, p.vocab.Name(ids[i+1]))
		}
		if _, dup := next[ids[i]]; dup {
			return Example{}, fmt.Errorf("edge %d: node %q has two successors", i/2, p.vocab.Name(ids[i]))
		}
		next[ids[i]] = ids[i+1]
	}
	if i+1 >= len(ids) || ids[i] != p.vocab.mustID(">") || !p.isNode(ids[i+1]) {
		return Example{}, fmt.Errorf("token %d: want \">\" and a start node after the edges", i)
	}
	ex := Example{Key: names(p.vocab, ids)}
	ex.add(BOSID, Ignore, 0)
	for _, id := range ids[:i+2] {
		ex.add(id, Ignore, 0)
	}
	cur := ids[i+1]
	for j := i + 2; j < len(ids); j++ {
		if ids[j] != p.vocab.mustID("?") {
			return Example{}, fmt.Errorf("token %d: want \"?\" after the start node, got %q", j, p.vocab.Name(ids[j]))
		}
		nxt, ok := next[cur]
		if !ok {
			return Example{}, fmt.Errorf("hop %d: node %q has no successor", j-i-1, p.vocab.Name(cur))
		}
		cur = nxt
		ex.Size++
		ex.add(ids[j], cur, ex.Size)
	}
	if ex.Size == 0 {
		return Example{}, fmt.Errorf("no \"?\" hop after the start node")
	}
	return ex, nil
}

func (p *Pointer) isNode(id int) bool { return id >= p.node(0) && id < p.node(pointerNodes) }

// Parse reads the layout written out, e.g. "ce ac eb ba >a???" (spaces are ignored).
func (p *Pointer) Parse(prompt string) (Example, error) {
	ids, err := tokenize(p.vocab, prompt)
	if err == nil {
		var ex Example
		if ex, err = p.layout(ids); err == nil {
			return ex, nil
		}
	}
	return Example{}, fmt.Errorf("tasks: pointer: %q: %w", prompt, err)
}

// ReadingOrder is the order of the hops.
func (*Pointer) ReadingOrder(ex Example) []int { return ex.AnswerPositions() }

// Answer writes the predicted nodes of the hops in order.
func (p *Pointer) Answer(ex Example, pred []int) string {
	return spell(p.vocab, p.ReadingOrder(ex), pred)
}
