package generate

import (
	"sync"
	"time"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
)

// Stepper runs the recurrences and the coda and head of generators. Left nil in Options, each
// generator runs them on its own; a Batcher shared by concurrent generators runs them together.
type Stepper interface {
	// Step is model.Step of the row.
	Step(m *model.Model, row model.Row) []float32
	// LastLogits is the head's logits of the row's last position after the coda.
	LastLogits(m *model.Model, row model.Row) []float32
}

// step runs recurrence t on s [S×h] through the request's stepper.
func (g *Generator) step(s, e []float32, S, pos, t int) []float32 {
	if g.opt.Stepper == nil {
		return g.m.Step(s, e, S, pos, t, g.cache)
	}
	return g.opt.Stepper.Step(g.m, model.Row{S: s, E: e, N: S, Pos: pos, T: t, Cache: g.cache})
}

// BatcherOptions configure a Batcher. Zero values take the defaults.
type BatcherOptions struct {
	MaxRows int // positions of short rows (at most kernels.MaxRowwise each) per batched pass (default 64)
	// PrefillChunk is how many positions of long rows (prefills, speculative verification) run
	// at once beside the passes: a longer prefill is cut into chunks of about this size, run one
	// after another while the other requests step (default 64, at least model.MinChunkRows).
	PrefillChunk int
	Window       time.Duration // the longest a pass waits for the rows of the previous one (default 5 ms)
	// OnBatch, when set, is called after each batched pass with the rows it computed (a row's
	// Cache tells its request).
	OnBatch func(rows []model.Row)
}

// DefaultPrefillChunk is the prefill chunk when BatcherOptions.PrefillChunk is 0.
const DefaultPrefillChunk = 64

// Batcher is continuous depth batching: generators running concurrently (each in its own
// goroutine, each with its own decoding loop, criterion and cache) hand it their recurrences
// and their coda-and-head evaluations, and it runs them in passes. The short rows of a pass
// (decode steps) go through model.StepRows and model.LastLogitsRows together, one product per
// weight matrix for all of them, whatever recurrence, position or request each row is at. Long
// rows (prefills, speculative verification) gain nothing from sharing the weights: each runs on
// a goroutine of its own, beside the passes, and at most PrefillChunk long positions run at
// once (at least one long call), so however many and however long the prompts, the passes keep
// most of the machine. Requests join and leave between any two recurrences. Since both equal
// running alone bitwise, every request's tokens are those it would get alone.
//
// Chunked prefill: a long prompt's recurrence (and its coda) is cut into chunks of
// PrefillChunk positions (model.ChunkBounds), each chunk taking all blocks before the next, so
// a prompt never holds more than one chunk's work in flight and the other requests' steps go
// on between its chunks. Every chunk has at least model.MinChunkRows positions, so its
// products compute each row exactly as the whole prompt's product does, and a chunk's
// attention reads the keys of the earlier chunks at the same recurrence: the states, KV cache
// and logits are those of the unchunked prefill, bitwise. Cache strategies that fold two
// blocks of one recurrence onto one slot (model.Cache.Chunkable) prefill whole. The prelude (a
// few blocks, run once) stays on the request's goroutine.
//
// A pass starts with the first pending call that fits the budgets (MaxRows short positions;
// long positions up to PrefillChunk with those still running), takes every other pending one
// that fits, holds the rest for later passes, and waits for the requests of the previous pass
// that have not come back yet (they may be checking their criterion, sampling, or done) as
// long as the previous pass took, at most Window, and at most four times the delay after which
// members usually call again: waiting costs at most as much as it can gain, and a member that
// is not coming soon does not hold the pass up.
type Batcher struct {
	opt   BatcherOptions
	calls chan *stepCall
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	long  running
}

// running counts the positions of the long calls in flight; freed signals that some ended.
type running struct {
	mu    sync.Mutex
	n     int
	freed chan struct{} // capacity 1
}

func (r *running) positions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *running) add(n int) {
	r.mu.Lock()
	r.n += n
	r.mu.Unlock()
	if n < 0 {
		select {
		case r.freed <- struct{}{}:
		default:
		}
	}
}

// callKind is what a call computes.
type callKind int

const (
	kindStep   callKind = iota // a recurrence
	kindLogits                 // the coda, and the head on the last position
	kindCoda                   // the coda alone (a prefill chunk before the last): its KV entries
)

// stepCall is one row waiting for a pass.
type stepCall struct {
	m    *model.Model
	row  model.Row
	kind callKind
	out  []float32
	done chan struct{}
}

// long reports whether the call's row runs on its own rather than in the shared products.
func (c *stepCall) long() bool { return c.row.N > kernels.MaxRowwise }

// NewBatcher starts a batcher; Close stops it.
func NewBatcher(opt BatcherOptions) *Batcher {
	if opt.MaxRows <= 0 {
		opt.MaxRows = 64
	}
	if opt.PrefillChunk <= 0 {
		opt.PrefillChunk = DefaultPrefillChunk
	}
	opt.PrefillChunk = max(opt.PrefillChunk, model.MinChunkRows)
	if opt.Window <= 0 {
		opt.Window = 5 * time.Millisecond
	}
	b := &Batcher{opt: opt, calls: make(chan *stepCall), quit: make(chan struct{}), done: make(chan struct{}),
		long: running{freed: make(chan struct{}, 1)}}
	go b.loop()
	return b
}

// Close stops the batcher once the pass in progress is done; later steps run unbatched.
func (b *Batcher) Close() {
	b.once.Do(func() { close(b.quit) })
	<-b.done
}

// Step runs one recurrence of row within the next batched passes.
func (b *Batcher) Step(m *model.Model, row model.Row) []float32 {
	return b.chunked(&stepCall{m: m, row: row, kind: kindStep})
}

// LastLogits runs row's coda and head within the next batched passes.
func (b *Batcher) LastLogits(m *model.Model, row model.Row) []float32 {
	return b.chunked(&stepCall{m: m, row: row, kind: kindLogits})
}

// chunked runs c as one call, or, for a long prefill, as one call per chunk in order (the coda
// of all but the last chunk only writing its KV entries), and joins the results.
func (b *Batcher) chunked(c *stepCall) []float32 {
	bounds := []int{0, c.row.N}
	if c.row.Cache != nil && c.row.Cache.Chunkable() {
		bounds = model.ChunkBounds(c.row.N, b.opt.PrefillChunk)
	}
	if len(bounds) == 2 {
		return b.call(c)
	}
	h := c.m.Config.NEmbd
	var states, logits []float32
	if c.kind == kindStep {
		states = make([]float32, c.row.N*h)
	}
	for i := 1; i < len(bounds); i++ {
		part := &stepCall{m: c.m, row: c.row.Chunk(bounds[i-1], bounds[i], h), kind: c.kind}
		if c.kind == kindLogits && i < len(bounds)-1 {
			part.kind = kindCoda
		}
		out := b.call(part)
		if c.kind == kindStep {
			copy(states[bounds[i-1]*h:], out)
		}
		logits = out
	}
	if c.kind == kindStep {
		return states
	}
	return logits
}

// call queues c for a pass and waits for it; once the batcher is closed, calls run at once on
// the caller's goroutine.
func (b *Batcher) call(c *stepCall) []float32 {
	c.done = make(chan struct{})
	select {
	case b.calls <- c:
	case <-b.quit:
		return alone(c)
	}
	<-c.done
	return c.out
}

// alone runs one call by itself.
func alone(c *stepCall) []float32 {
	return c.run([]model.Row{c.row})[0]
}

// run computes rows of c's kind on c's model.
func (c *stepCall) run(rows []model.Row) [][]float32 {
	switch c.kind {
	case kindLogits:
		return c.m.LastLogitsRows(rows)
	case kindCoda:
		for _, r := range rows {
			c.m.Coda(r.S, r.N, r.Pos, r.Cache)
		}
		return make([][]float32, len(rows))
	}
	return c.m.StepRows(rows)
}

func (b *Batcher) loop() {
	defer close(b.done)
	var p pace
	var held []*stepCall // calls over the budgets of the pass they came in, first in the next
	defer func() {       // closing: the held calls' callers are still waiting
		for _, c := range held {
			c.out = alone(c)
			close(c.done)
		}
	}()
	for {
		first, rest, ok := b.next(held)
		if !ok {
			return
		}
		var batch []*stepCall
		batch, held = b.gather(first, rest, &p)
		p.members = map[*model.Cache]bool{}
		for _, c := range batch {
			if !c.long() { // a long call shares nothing with a pass: no pass waits for it
				p.members[c.row.Cache] = true
			}
		}
		start := time.Now()
		b.run(batch)
		p.ended = time.Now()
		p.took = p.ended.Sub(start)
	}
}

// next waits for the call that starts the next pass: the first held call that fits the long
// budget now, else the next call that does, holding long calls that do not. It returns the
// call and the calls still held; ok is false once the batcher is closed.
func (b *Batcher) next(held []*stepCall) (first *stepCall, rest []*stepCall, ok bool) {
	for {
		bu := b.budget()
		for i, c := range held {
			if bu.fits(c) {
				return c, append(held[:i:i], held[i+1:]...), true
			}
		}
		select {
		case c := <-b.calls:
			if bu.fits(c) {
				return c, held, true
			}
			held = append(held, c)
		case <-b.long.freed:
		case <-b.quit:
			return nil, held, false
		}
	}
}

// pace is what the loop knows of the previous pass: whose short rows it held, when it ended,
// how long it ran, and how long its members usually take to call again.
type pace struct {
	members map[*model.Cache]bool
	ended   time.Time
	took    time.Duration
	back    time.Duration // smoothed delay from a pass's end to a member's next call
}

// minWait is the least a pass waits for returning members once their delay is known.
const minWait = 50 * time.Microsecond

// deadline is when a pass stops waiting for the previous pass's members: after as long as that
// pass ran, at most limit, and at most four times their usual delay.
func (p *pace) deadline(limit time.Duration) time.Time {
	w := min(p.took, limit)
	if p.back > 0 {
		w = min(w, max(4*p.back, minWait))
	}
	return p.ended.Add(w)
}

// returned records that a member called again at now.
func (p *pace) returned(now time.Time) {
	d := now.Sub(p.ended)
	if p.back == 0 {
		p.back = d
		return
	}
	p.back = (3*p.back + d) / 4
}

// budget is what a pass may still take: short positions, and long positions beside the long
// calls still running.
type budget struct {
	short, long int
	anyLong     bool // a long call is running or in the pass: the long budget binds
}

// budget is a new pass's budget.
func (b *Batcher) budget() budget {
	n := b.long.positions()
	return budget{short: b.opt.MaxRows, long: b.opt.PrefillChunk - n, anyLong: n > 0}
}

// fits reports whether c fits the budget.
func (bu *budget) fits(c *stepCall) bool {
	if !c.long() {
		return c.row.N <= bu.short
	}
	return !bu.anyLong || c.row.N <= bu.long
}

// take counts c if it fits and reports whether it did.
func (bu *budget) take(c *stepCall) bool {
	if !bu.fits(c) {
		return false
	}
	if c.long() {
		bu.long -= c.row.N
		bu.anyLong = true
	} else {
		bu.short -= c.row.N
	}
	return true
}

// full reports whether nothing more can join.
func (bu *budget) full() bool { return bu.short <= 0 && bu.anyLong && bu.long <= 0 }

// gather collects the pass that starts with first: the held calls and every pending call
// within the budgets, and the members of the previous pass that call before the deadline. It
// returns the pass and the calls held over for the next one.
func (b *Batcher) gather(first *stepCall, held []*stepCall, p *pace) (batch, over []*stepCall) {
	bu := b.budget()
	add := func(c *stepCall) {
		if bu.take(c) {
			batch = append(batch, c)
		} else {
			over = append(over, c)
		}
	}
	waiting := len(p.members) // members not yet in
	arrive := func(c *stepCall) {
		if p.members[c.row.Cache] {
			waiting--
			p.returned(time.Now())
		}
	}
	add(first) // fits: next chose it so
	arrive(first)
	for _, c := range held {
		add(c)
	}
	timer := time.NewTimer(time.Until(p.deadline(b.opt.Window)))
	defer timer.Stop()
	for !bu.full() {
		var c *stepCall
		if waiting > 0 {
			select {
			case c = <-b.calls:
			case <-timer.C: // stop waiting; still take what is pending
				waiting = 0
				continue
			case <-b.quit:
				return batch, over
			}
		} else {
			select {
			case c = <-b.calls:
			default:
				return batch, over
			}
		}
		arrive(c)
		add(c)
	}
	return batch, over
}

// run computes a pass: it starts the long rows, each on a goroutine of its own (as they would
// run without batching, so several prefills still share the cores) that may outlast the pass,
// and computes the short rows, one StepRows or LastLogitsRows per model and kind, waking their
// callers. The next pass starts at once; new long rows join only while the running ones leave
// room in the PrefillChunk budget.
func (b *Batcher) run(batch []*stepCall) {
	type group struct {
		m    *model.Model
		kind callKind
	}
	groups := map[group][]*stepCall{}
	for _, c := range batch {
		if !c.long() {
			k := group{c.m, c.kind}
			groups[k] = append(groups[k], c)
			continue
		}
		b.long.add(c.row.N)
		go func() {
			c.out = alone(c)
			b.long.add(-c.row.N)
			close(c.done)
		}()
	}
	for _, calls := range groups {
		in := make([]model.Row, len(calls))
		for i, c := range calls {
			in[i] = c.row
		}
		for i, out := range calls[0].run(in) {
			calls[i].out = out
			close(calls[i].done)
		}
	}
	if b.opt.OnBatch != nil {
		rows := make([]model.Row, len(batch))
		for i, c := range batch {
			rows[i] = c.row
		}
		b.opt.OnBatch(rows)
	}
}
