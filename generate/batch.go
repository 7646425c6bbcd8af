package generate

import (
	"context"
	"sync"
	"time"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
)

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
// goroutine, each with its own decoding loop, criterion and cache) hand it their preludes,
// recurrences and coda-and-head evaluations, and it runs them in passes. The short rows of a
// pass (decode steps) go through model.PreludeRows, model.StepRows, model.LastLogitsRows and
// model.LogitsRows together, one product per weight matrix for all rows of a kind, whatever
// recurrence, position or request each row is at. Long
// rows (prefills, speculative verification) gain nothing from sharing the weights: each runs on
// a goroutine of its own, beside the passes, and at most PrefillChunk long positions run at
// once (at least one long call), so however many and however long the prompts, the passes keep
// most of the machine. Requests join and leave between any two recurrences. Since both equal
// running alone bitwise, every request's tokens are those it would get alone.
//
// Chunked prefill: a long prompt's prelude, each of its recurrences, and its coda (with the
// head of the last position, or of every position for prompt logprobs) are cut into chunks of
// PrefillChunk positions (model.ChunkBounds), each chunk taking all blocks before the next, so
// a prompt never holds more than one chunk's work in flight and the other requests' steps go
// on between its chunks. Every chunk has at least model.MinChunkRows positions, so its
// products compute each row exactly as the whole prompt's product does, and a chunk's
// attention reads the keys of the earlier chunks in the same slot: the states, KV cache and
// logits are those of the unchunked prefill, bitwise. Cache strategies that fold two blocks of
// one recurrence onto one slot (model.Cache.Chunkable) run their recurrences whole (prelude and
// coda slots are never folded). A request whose context ends stops at the next chunk: a call
// of a cancelled request is dropped, not computed, and returns the context's error.
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
	kindStep    callKind = iota // a recurrence
	kindPrelude                 // the embedding and the prelude blocks
	kindLogits                  // the coda, and the head on the last position
	kindCoda                    // the coda alone (a prefill chunk before the last): its KV entries
	kindAll                     // the coda, and the head on every position
)

// stepCall is one row waiting for a pass.
type stepCall struct {
	ctx  context.Context
	m    *model.Model
	row  model.Row
	kind callKind
	out  []float32
	err  error
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

// Prefilling is the number of positions of long calls (prefill chunks) running now, at most
// about PrefillChunk: the part of the prefill budget in use.
func (b *Batcher) Prefilling() int { return b.long.positions() }

// Prelude runs the prelude of row.IDs (at row.Pos, into row.Cache) within the next batched
// passes, a long prompt chunk by chunk. Input model.Model.CheckInput refuses is refused here,
// before anything runs.
func (b *Batcher) Prelude(ctx context.Context, m *model.Model, row model.Row) ([]float32, error) {
	if err := m.CheckInput(row.IDs, row.Pos); err != nil {
		return nil, err
	}
	row.N = len(row.IDs)
	return b.joined(ctx, m, row, kindPrelude, m.Config.NEmbd)
}

// Step runs one recurrence of row within the next batched passes.
func (b *Batcher) Step(ctx context.Context, m *model.Model, row model.Row) ([]float32, error) {
	return b.joined(ctx, m, row, kindStep, m.Config.NEmbd)
}

// LastLogits runs row's coda and head within the next batched passes.
func (b *Batcher) LastLogits(ctx context.Context, m *model.Model, row model.Row) ([]float32, error) {
	var logits []float32
	err := b.chunked(&stepCall{ctx: ctx, m: m, row: row, kind: kindLogits}, func(_ int, out []float32) { logits = out })
	return logits, err
}

// Logits runs row's coda and the head on all its positions within the next batched passes,
// handing use each chunk's logits as it comes.
func (b *Batcher) Logits(ctx context.Context, m *model.Model, row model.Row, use func(lo int, logits []float32)) error {
	return b.chunked(&stepCall{ctx: ctx, m: m, row: row, kind: kindAll}, use)
}

// joined runs a call of kind whose result has width w per position and joins its chunks.
func (b *Batcher) joined(ctx context.Context, m *model.Model, row model.Row, kind callKind, w int) ([]float32, error) {
	out := make([]float32, row.N*w)
	err := b.chunked(&stepCall{ctx: ctx, m: m, row: row, kind: kind}, func(lo int, part []float32) { copy(out[lo*w:], part) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// chunked runs c as one call, or, for a long prompt, as one call per chunk in order (the coda
// of all but the last chunk of a kindLogits call only writing its KV entries), handing use
// each call's result with the chunk's first position. It stops, with the context's error,
// before a chunk of a request whose context has ended.
func (b *Batcher) chunked(c *stepCall, use func(lo int, out []float32)) error {
	bounds := []int{0, c.row.N}
	if c.row.Cache != nil && (c.kind != kindStep || c.row.Cache.Chunkable()) {
		bounds = model.ChunkBounds(c.row.N, b.opt.PrefillChunk)
	}
	h := c.m.Config.NEmbd
	for i := 1; i < len(bounds); i++ {
		part := &stepCall{ctx: c.ctx, m: c.m, row: c.row.Chunk(bounds[i-1], bounds[i], h), kind: c.kind}
		if c.kind == kindLogits && i < len(bounds)-1 {
			part.kind = kindCoda
		}
		if err := b.call(part); err != nil {
			return err
		}
		use(bounds[i-1], part.out)
	}
	return nil
}

// call queues c for a pass and waits for it; once the batcher is closed, calls run at once on
// the caller's goroutine. A call whose context ends before it is queued is not.
func (b *Batcher) call(c *stepCall) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	c.done = make(chan struct{})
	select {
	case b.calls <- c:
	case <-c.ctx.Done():
		return c.ctx.Err()
	case <-b.quit:
		c.out, c.err = alone(c)
		return c.err
	}
	<-c.done
	return c.err
}

// alone runs one call by itself.
func alone(c *stepCall) ([]float32, error) {
	out, err := c.run([]model.Row{c.row})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// run computes rows of c's kind on c's model.
func (c *stepCall) run(rows []model.Row) ([][]float32, error) {
	switch c.kind {
	case kindPrelude:
		return c.m.PreludeRows(rows)
	case kindLogits:
		return c.m.LastLogitsRows(rows), nil
	case kindAll:
		return c.m.LogitsRows(rows), nil
	case kindCoda:
		for _, r := range rows {
			c.m.Coda(r.S, r.N, r.Pos, r.Cache)
		}
		return make([][]float32, len(rows)), nil
	}
	return c.m.StepRows(rows), nil
}

// finish hands c its result and wakes its caller.
func (c *stepCall) finish(out []float32, err error) {
	c.out, c.err = out, err
	close(c.done)
}

func (b *Batcher) loop() {
	defer close(b.done)
	var p pace
	var held []*stepCall // calls over the budgets of the pass they came in, first in the next
	defer func() {       // closing: the held calls' callers are still waiting
		for _, c := range held {
			c.finish(alone(c))
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

// run computes a pass: it drops the calls of requests whose context has ended, starts the long
// rows, each on a goroutine of its own (as they would run without batching, so several
// prefills still share the cores) that may outlast the pass, and computes the short rows, one
// batched call per model and kind, waking their callers. The next pass starts at once; new
// long rows join only while the running ones leave room in the PrefillChunk budget.
func (b *Batcher) run(batch []*stepCall) {
	type group struct {
		m    *model.Model
		kind callKind
	}
	groups := map[group][]*stepCall{}
	var rows []model.Row
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.finish(nil, err)
			continue
		}
		rows = append(rows, c.row)
		if !c.long() {
			k := group{c.m, c.kind}
			groups[k] = append(groups[k], c)
			continue
		}
		b.long.add(c.row.N)
		go func() {
			out, err := alone(c)
			b.long.add(-c.row.N)
			c.finish(out, err)
		}()
	}
	for _, calls := range groups {
		in := make([]model.Row, len(calls))
		for i, c := range calls {
			in[i] = c.row
		}
		outs, err := calls[0].run(in)
		for i, c := range calls {
			if err != nil {
				c.finish(nil, err)
			} else {
				c.finish(outs[i], nil)
			}
		}
	}
	if b.opt.OnBatch != nil && len(rows) > 0 {
		b.opt.OnBatch(rows)
	}
}
