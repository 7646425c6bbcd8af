package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// bpeJSON is tokenizer.json's "model" object for type BPE.
type bpeJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

// merge is the result of merging one pair of ids: its priority (lower merges first) and the
// id of the merged token.
type merge struct {
	rank, id int32
}

// bpe is a byte-pair-encoding model: it splits a pre-token into characters and merges adjacent
// pairs by rank until no listed pair remains.
type bpe struct {
	vocab        map[string]int
	tokens       []string // id → token text; "" for ids the vocabulary skips
	merges       map[uint64]merge
	unk          int // -1 when there is no unknown token
	prefix       string
	suffix       string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	cacheMu sync.RWMutex
	cache   map[string][]int
}

// Words longer than maxCachedWord bytes are not cached, and the cache is emptied once it holds
// maxCacheEntries words, which bounds its memory.
const (
	maxCachedWord   = 256
	maxCacheEntries = 1 << 17
)

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// newBPE builds the model from tokenizer.json's "model" object.
func newBPE(raw json.RawMessage) (*bpe, error) {
	var m bpeJSON
	if err := decodeComponent(raw, "model", &m); err != nil {
		return nil, err
	}
	if m.Type != "BPE" && !(m.Type == "" && m.Merges != nil) {
		return nil, fmt.Errorf("model: unsupported: %s (only BPE models are implemented)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("model: unsupported: BPE dropout %g (training-time only)", *m.Dropout)
	}
	model := &bpe{vocab: m.Vocab, unk: -1, fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges, cache: map[string][]int{}}
	if m.ContinuingSubwordPrefix != nil {
		model.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		model.suffix = *m.EndOfWordSuffix
	}
	if err := model.indexVocab(); err != nil {
		return nil, err
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model.unk_token: %q is not in model.vocab", *m.UnkToken)
		}
		model.unk = id
	}
	pairs, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	return model, model.indexMerges(pairs)
}

// indexVocab builds the id → token table, rejecting negative or duplicate ids.
func (m *bpe) indexVocab() error {
	size := 0
	for tok, id := range m.vocab {
		if id < 0 || id > 1<<24 {
			return fmt.Errorf("model.vocab[%q]: id %d out of range", tok, id)
		}
		size = max(size, id+1)
	}
	m.tokens = make([]string, size)
	seen := make([]bool, size)
	for tok, id := range m.vocab {
		if seen[id] {
			return fmt.Errorf("model.vocab: id %d used by both %q and %q", id, m.tokens[id], tok)
		}
		seen[id] = true
		m.tokens[id] = tok
	}
	return nil
}

// parseMerges accepts merges as "a b" strings (tokenizers < 0.20) or as ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := decodeComponent(raw, "model.merges", &items); err != nil {
		return nil, err
	}
	pairs := make([][2]string, len(items))
	for i, item := range items {
		var line string
		if json.Unmarshal(item, &line) == nil {
			a, b, ok := strings.Cut(line, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("model.merges[%d]: %q is not two tokens separated by one space", i, line)
			}
			pairs[i] = [2]string{a, b}
			continue
		}
		var pair []string
		if json.Unmarshal(item, &pair) != nil || len(pair) != 2 {
			return nil, fmt.Errorf("model.merges[%d]: want \"a b\" or [\"a\", \"b\"], got %.60s", i, item)
		}
		pairs[i] = [2]string{pair[0], pair[1]}
	}
	return pairs, nil
}

// indexMerges maps each pair of ids to its rank and merged id.
func (m *bpe) indexMerges(pairs [][2]string) error {
	m.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		left, okL := m.vocab[p[0]]
		right, okR := m.vocab[p[1]]
		merged := p[0] + strings.TrimPrefix(p[1], m.prefix)
		id, okM := m.vocab[merged]
		if !okL || !okR || !okM {
			return fmt.Errorf("model.merges[%d]: %q + %q: token %q is not in model.vocab", rank, p[0], p[1], firstMissing(m.vocab, p[0], p[1], merged))
		}
		key := pairKey(int32(left), int32(right))
		if _, dup := m.merges[key]; !dup {
			m.merges[key] = merge{rank: int32(rank), id: int32(id)}
		}
	}
	return nil
}

func firstMissing(vocab map[string]int, names ...string) string {
	for _, n := range names {
		if _, ok := vocab[n]; !ok {
			return n
		}
	}
	return ""
}

// tokenize appends the ids of one pre-token to dst, using the cache for short words.
func (m *bpe) tokenize(dst []int, word string) []int {
	if word == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, id)
		}
	}
	if len(word) > maxCachedWord {
		return append(dst, m.mergeWord(word)...)
	}
	m.cacheMu.RLock()
	ids, ok := m.cache[word]
	m.cacheMu.RUnlock()
	if !ok {
		ids = m.mergeWord(word)
		m.cacheMu.Lock()
		if len(m.cache) >= maxCacheEntries {
			clear(m.cache)
		}
		m.cache[word] = ids
		m.cacheMu.Unlock()
	}
	return append(dst, ids...)
}

// symbol is one token of a word being merged, in a doubly linked list over positions.
type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	dead       bool
}

// candidate is a possible merge of the symbol at pos with its right neighbour.
type candidate struct {
	rank, pos, left, right, merged int32
}

// mergeWord runs BPE on one word: a priority queue of candidate merges ordered by rank, then
// position, as Hugging Face's Word::merge_all does; stale candidates are skipped when popped.
func (m *bpe) mergeWord(word string) []int {
	syms := m.initialSymbols(word)
	var queue candidateHeap
	for i := 0; i+1 < len(syms); i++ {
		m.push(&queue, syms, int32(i))
	}
	for len(queue) > 0 {
		c := queue.pop()
		s := &syms[c.pos]
		if s.dead || s.next < 0 || s.id != c.left || syms[s.next].id != c.right {
			continue
		}
		right := &syms[s.next]
		s.id = c.merged
		right.dead = true
		s.next = right.next
		if s.next >= 0 {
			syms[s.next].prev = c.pos
		}
		if s.prev >= 0 {
			m.push(&queue, syms, s.prev)
		}
		m.push(&queue, syms, c.pos)
	}
	ids := make([]int, 0, len(syms))
	for _, s := range syms {
		if !s.dead {
			ids = append(ids, int(s.id))
		}
	}
	return ids
}

// push queues the merge of syms[pos] with its right neighbour if the pair has a rank.
func (m *bpe) push(queue *candidateHeap, syms []symbol, pos int32) {
	next := syms[pos].next
	if next < 0 {
		return
	}
	left, right := syms[pos].id, syms[next].id
	if mg, ok := m.merges[pairKey(left, right)]; ok {
		queue.push(candidate{rank: mg.rank, pos: pos, left: left, right: right, merged: mg.id})
	}
}

// initialSymbols splits a word into one symbol per character (with the continuing-subword
// prefix on all but the first and the end-of-word suffix on the last). A character missing from
// the vocabulary becomes its <0xXX> byte tokens when byte_fallback is set, else the unknown
// token (fused with a preceding one when fuse_unk is set), else it is dropped, as in Hugging Face.
func (m *bpe) initialSymbols(word string) []symbol {
	syms := make([]symbol, 0, len(word))
	lastUnk := false
	for i, r := range word {
		piece := string(r)
		if i > 0 {
			piece = m.prefix + piece
		}
		if i+len(string(r)) == len(word) {
			piece += m.suffix
		}
		if id, ok := m.vocab[piece]; ok {
			syms = appendSymbol(syms, int32(id))
			lastUnk = false
			continue
		}
		if ids, ok := m.byteFallbackIDs(string(r)); ok {
			for _, id := range ids {
				syms = appendSymbol(syms, id)
			}
			lastUnk = false
			continue
		}
		if m.unk >= 0 && !(m.fuseUnk && lastUnk) {
			syms = appendSymbol(syms, int32(m.unk))
		}
		lastUnk = m.unk >= 0
	}
	return syms
}

func appendSymbol(syms []symbol, id int32) []symbol {
	n := int32(len(syms))
	if n > 0 {
		syms[n-1].next = n
	}
	return append(syms, symbol{id: id, prev: n - 1, next: -1})
}

// byteFallbackIDs returns the <0xXX> ids of a character's bytes when byte_fallback is on and
// all of them exist.
func (m *bpe) byteFallbackIDs(char string) ([]int32, bool) {
	if !m.byteFallback {
		return nil, false
	}
	ids := make([]int32, len(char))
	for i := 0; i < len(char); i++ {
		id, ok := m.vocab[fmt.Sprintf("<0x%02X>", char[i])]
		if !ok {
			return nil, false
		}
		ids[i] = int32(id)
	}
	return ids, true
}

// candidateHeap is a binary min-heap of candidates ordered by (rank, pos).
type candidateHeap []candidate

func (c candidate) less(o candidate) bool {
	return c.rank < o.rank || c.rank == o.rank && c.pos < o.pos
}

func (h *candidateHeap) push(c candidate) {
	*h = append(*h, c)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q[i].less(q[parent]) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *candidateHeap) pop() candidate {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].less(q[smallest]) {
			smallest = l
		}
		if r < len(q) && q[r].less(q[smallest]) {
			smallest = r
		}
		if smallest == i {
			break
		}
		q[i], q[smallest] = q[smallest], q[i]
		i = smallest
	}
	*h = q
	return top
}
