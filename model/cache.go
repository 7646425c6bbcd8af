package model

import (
	"fmt"
	"strconv"
	"strings"
)

// The KV cache keeps one slot per (layer, recurrence step), as the reference does: prelude
// block i writes slot i, core block j at recurrence t writes slot P + C·t + j (P prelude blocks,
// C core blocks; 2 + 4t + j for Huginn), coda block i writes slot −(i+1). Tokens that exited
// early lack the deep slots; a lookup strategy decides which slot a past token's keys come from.
// Compression maps many core slots onto few so their memory is shared.

// Lookup says where to read a past token's keys when the requested slot lacks it.
type Lookup int

// The lookup strategies of the reference.
const (
	LookupFull         Lookup = iota // stack whatever entries exist (exact when all tokens ran the same steps)
	LookupLatest                     // latest-m4: deepest slot ≤ the requested one of the same core layer
	LookupAvailable                  // available-m4: the requested slot if present, else as latest
	LookupAlwaysLast                 // always-last-m4: deepest slot of the same core layer anywhere in the cache
	LookupSkip                       // skip: leave out tokens that lack the slot
	LookupNoneRequired               // compress-* alone: every token must have the slot (else an error)
)

// Compression says how core slots are folded onto fewer slots (KV sharing).
type Compression int

// Compression kinds of the reference.
const (
	CompressNone   Compression = iota
	CompressModulo             // compress-sK: slot ← P + (slot − P) mod K
	CompressRange              // compress-rK: slot ← P + (slot − P) div K
	CompressAnchor             // compress-anchor: keep the first 8 recurrences, then reuse one recurrence's slots
)

// Strategy is a parsed cache lookup strategy such as "latest-m4-compress-s16".
type Strategy struct {
	Name        string
	Lookup      Lookup
	Compression Compression
	K           int // the K of compress-sK / compress-rK
}

// ParseStrategy parses a strategy name: "full", "latest-m4", "available-m4", "always-last-m4",
// "skip", "compress-sK", "compress-rK", "compress-anchor", or a lookup followed by a compression
// ("latest-m4-compress-s16").
func ParseStrategy(name string) (Strategy, error) {
	s := Strategy{Name: name}
	lookup, compress, hasCompress := strings.Cut(name, "compress-")
	lookup = strings.TrimSuffix(lookup, "-")
	switch lookup {
	case "":
		if !hasCompress {
			return s, fmt.Errorf("cache strategy: empty name")
		}
		s.Lookup = LookupNoneRequired
	case "full":
		s.Lookup = LookupFull
	case "latest-m4":
		s.Lookup = LookupLatest
	case "available-m4":
		s.Lookup = LookupAvailable
	case "always-last-m4":
		s.Lookup = LookupAlwaysLast
	case "skip":
		s.Lookup = LookupSkip
	default:
		return s, fmt.Errorf("cache strategy %q: unknown lookup %q (want full, latest-m4, available-m4, always-last-m4, skip, optionally followed by -compress-sK, -compress-rK or -compress-anchor)", name, lookup)
	}
	if !hasCompress {
		return s, nil
	}
	switch {
	case compress == "anchor":
		s.Compression = CompressAnchor
	case strings.HasPrefix(compress, "s") || strings.HasPrefix(compress, "r"):
		k, err := strconv.Atoi(compress[1:])
		if err != nil || k <= 0 || k > 1<<16 {
			return s, fmt.Errorf("cache strategy %q: compression %q needs a positive integer after %q", name, compress, compress[:1])
		}
		s.K = k
		s.Compression = CompressModulo
		if compress[0] == 'r' {
			s.Compression = CompressRange
		}
	default:
		return s, fmt.Errorf("cache strategy %q: unknown compression %q (want sK, rK or anchor)", name, compress)
	}
	return s, nil
}

// kvSlot holds the keys and values one slot keeps, indexed by token position (nil = absent).
type kvSlot struct {
	keys, values [][]float32
}

func (s *kvSlot) has(pos int) bool { return pos < len(s.keys) && s.keys[pos] != nil }

// Cache is the per-(layer, step) KV cache of one sequence.
type Cache struct {
	strategy Strategy
	prelude  int // P: number of prelude blocks
	core     int // C: number of core blocks
	slots    map[int]*kvSlot
	seen     int // number of positions written to slot 0 (or the first block)
	kvWidth  int
	err      error
}

// NewCache returns an empty cache for a model's config using the named lookup strategy.
func NewCache(cfg *Config, strategy string) (*Cache, error) {
	s, err := ParseStrategy(strategy)
	if err != nil {
		return nil, err
	}
	return &Cache{strategy: s, prelude: cfg.NLayersPrelude, core: cfg.NLayersCore,
		slots: map[int]*kvSlot{}, kvWidth: cfg.NEmbd}, nil
}

// Strategy returns the cache's parsed lookup strategy.
func (c *Cache) Strategy() Strategy { return c.strategy }

// Len is the number of token positions the cache has seen.
func (c *Cache) Len() int { return c.seen }

// Err reports the first lookup failure (a token lacking a slot under a strategy that has no
// fallback); forward passes return it.
func (c *Cache) Err() error { return c.err }

// PreludeSlot, CoreSlot and CodaSlot give the slot index a block writes.
func (c *Cache) PreludeSlot(i int) int { return i }

// CoreSlot is the slot core block j writes at recurrence t.
func (c *Cache) CoreSlot(t, j int) int { return c.prelude + c.core*t + j }

// CodaSlot is the slot coda block i writes.
func (c *Cache) CodaSlot(i int) int { return -(i + 1) }

// compress maps a core slot onto its shared slot.
func (c *Cache) compress(slot int) int {
	if slot < c.prelude {
		return slot
	}
	rel := slot - c.prelude
	switch c.strategy.Compression {
	case CompressModulo:
		return c.prelude + rel%c.strategy.K
	case CompressRange:
		return c.prelude + rel/c.strategy.K
	case CompressAnchor:
		anchor := 8 * c.core
		if rel < anchor {
			return slot
		}
		return c.prelude + anchor + (rel-anchor)%c.core
	}
	return slot
}

// Chunkable reports whether a prefill may run chunk by chunk, each chunk through all blocks of
// a recurrence before the next chunk: true unless the compression folds two core blocks of one
// recurrence onto one slot (compress-sK with K below the core depth, compress-rK with K > 1),
// where a later block of an earlier chunk would overwrite keys a later chunk still reads.
func (c *Cache) Chunkable() bool {
	switch c.strategy.Compression {
	case CompressModulo:
		return c.strategy.K >= c.core
	case CompressRange:
		return c.strategy.K == 1
	}
	return true
}

// Update stores the keys and values of positions pos..pos+len(keys)-1 in the given slot and
// returns the key and value rows the attention of those positions reads: one per visible
// position before pos+len(keys). Positions beyond are left out even when the cache has seen
// them, so a prefill can run chunk by chunk, each chunk through every block before the next.
func (c *Cache) Update(slot, pos int, keys, values [][]float32) ([][]float32, [][]float32) {
	slot = c.compress(slot)
	s := c.slots[slot]
	if s == nil {
		s = &kvSlot{}
		c.slots[slot] = s
	}
	if slot == 0 {
		c.seen = max(c.seen, pos+len(keys))
	}
	for i := range keys {
		p := pos + i
		for len(s.keys) <= p {
			s.keys = append(s.keys, nil)
			s.values = append(s.values, nil)
		}
		s.keys[p] = append(s.keys[p][:0], keys[i]...)
		s.values[p] = append(s.values[p][:0], values[i]...)
	}
	return c.gather(slot, s, min(pos+len(keys), c.seen))
}

// gather materialises the rows of positions 0..end-1 for a slot under the lookup strategy.
func (c *Cache) gather(slot int, s *kvSlot, end int) ([][]float32, [][]float32) {
	ks := make([][]float32, 0, end)
	vs := make([][]float32, 0, end)
	complete := true
	for p := 0; p < end; p++ {
		if !s.has(p) {
			complete = false
			break
		}
	}
	for p := 0; p < end; p++ {
		src := slot
		if !complete || c.strategy.Lookup == LookupFull {
			src = c.source(slot, s, p)
		}
		if src == missing {
			continue
		}
		from := c.slots[src]
		ks = append(ks, from.keys[p])
		vs = append(vs, from.values[p])
	}
	return ks, vs
}

const missing = -1 << 30

// source picks the slot a past position's keys are read from when the requested slot may lack it.
func (c *Cache) source(slot int, s *kvSlot, p int) int {
	switch c.strategy.Lookup {
	case LookupFull, LookupSkip:
		if s.has(p) {
			return slot
		}
		return missing
	case LookupAvailable:
		if s.has(p) {
			return slot
		}
		return c.deepestSameLayer(slot, p, slot)
	case LookupLatest:
		if slot < c.prelude {
			return c.preludeFallback(slot, s, p)
		}
		return c.deepestSameLayer(slot, p, slot)
	case LookupAlwaysLast:
		if slot < c.prelude {
			return c.preludeFallback(slot, s, p)
		}
		return c.deepestSameLayer(slot, p, 1<<30)
	}
	if c.err == nil {
		c.err = fmt.Errorf("cache strategy %q: position %d lacks slot %d and the strategy has no fallback (use latest-m4-%s)", c.strategy.Name, p, slot, c.strategy.Name)
	}
	return missing
}

// preludeFallback reads prelude (and coda) slots: the slot itself if present, else slot 0.
func (c *Cache) preludeFallback(slot int, s *kvSlot, p int) int {
	if s.has(p) {
		return slot
	}
	if z := c.slots[0]; z != nil && z.has(p) {
		return 0
	}
	return missing
}

// deepestSameLayer finds the largest core slot ≤ limit belonging to the same core layer as slot
// that holds position p.
func (c *Cache) deepestSameLayer(slot, p, limit int) int {
	best := missing
	for idx, s := range c.slots {
		if idx < c.prelude || idx > limit || (idx-c.prelude)%c.core != (slot-c.prelude)%c.core {
			continue
		}
		if s.has(p) && idx > best {
			best = idx
		}
	}
	if best == missing && c.err == nil {
		c.err = fmt.Errorf("cache strategy %q: position %d has no entry for the core layer of slot %d", c.strategy.Name, p, slot)
	}
	return best
}

// Truncate forgets every position ≥ n (speculative decoding discards rejected drafts this way).
func (c *Cache) Truncate(n int) {
	if n >= c.seen {
		return
	}
	c.seen = max(n, 0)
	for _, s := range c.slots {
		if len(s.keys) > c.seen {
			s.keys = s.keys[:c.seen]
			s.values = s.values[:c.seen]
		}
	}
}

// Entries is the number of (slot, position) pairs held; each costs two rows of n_embd floats.
func (c *Cache) Entries() int {
	n := 0
	for _, s := range c.slots {
		for p := range min(len(s.keys), c.seen) {
			if s.keys[p] != nil {
				n++
			}
		}
	}
	return n
}

// Bytes is the memory the stored keys and values occupy (fp32).
func (c *Cache) Bytes() int64 { return int64(c.Entries()) * int64(c.kvWidth) * 2 * 4 }
