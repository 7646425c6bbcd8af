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
	MaxRows int           // positions per batched pass (default 64)
	Window  time.Duration // the longest a pass waits for the rows of the previous one (default 5 ms)
	// OnBatch, when set, is called after each batched pass with its rows and requests.
	OnBatch func(rows, requests int)
}

// Batcher is continuous depth batching: generators running concurrently (each in its own
// goroutine, each with its own decoding loop, criterion and cache) hand it their recurrences
// and their coda-and-head evaluations, and it runs the pending ones together through
// model.StepRows and model.LastLogitsRows, one product per weight matrix for all rows, whatever
// recurrence, position or request each row is at. Requests join and leave between any two
// recurrences. Since both equal running alone bitwise, every request's tokens are those it
// would get alone.
//
// A pass starts with the first pending call, takes every other pending one, and waits for the
// requests of the previous pass that have not come back yet (they may be checking their
// criterion, sampling, or done) as long as the previous pass took, at most Window, and at most
// four times the delay after which members usually call again: waiting costs at most as much
// as it can gain, and a member that is not coming soon does not hold the pass up. Rows longer
// than kernels.MaxRowwise (prefills, speculative verification) gain nothing from sharing the
// weights and would hold up the pass: they run at once on the caller's goroutine.
type Batcher struct {
	opt   BatcherOptions
	calls chan *stepCall
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// stepCall is one row waiting for a pass: a recurrence, or (logits) the coda and head.
type stepCall struct {
	m      *model.Model
	row    model.Row
	logits bool
	out    []float32
	done   chan struct{}
}

// NewBatcher starts a batcher; Close stops it.
func NewBatcher(opt BatcherOptions) *Batcher {
	if opt.MaxRows <= 0 {
		opt.MaxRows = 64
	}
	if opt.Window <= 0 {
		opt.Window = 5 * time.Millisecond
	}
	b := &Batcher{opt: opt, calls: make(chan *stepCall), quit: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// Close stops the batcher once the pass in progress is done; later steps run unbatched.
func (b *Batcher) Close() {
	b.once.Do(func() { close(b.quit) })
	<-b.done
}

// Step runs one recurrence of row within the next batched pass.
func (b *Batcher) Step(m *model.Model, row model.Row) []float32 {
	return b.call(&stepCall{m: m, row: row})
}

// LastLogits runs row's coda and head within the next batched pass.
func (b *Batcher) LastLogits(m *model.Model, row model.Row) []float32 {
	return b.call(&stepCall{m: m, row: row, logits: true})
}

// call queues c for the next pass and waits for it; long rows, and every row once the batcher
// is closed, run at once on the caller's goroutine.
func (b *Batcher) call(c *stepCall) []float32 {
	if c.row.N > kernels.MaxRowwise {
		return alone(c)
	}
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
	if c.logits {
		return c.m.LastLogitsRows(rows)
	}
	return c.m.StepRows(rows)
}

func (b *Batcher) loop() {
	defer close(b.done)
	var p pace
	for {
		var first *stepCall
		select {
		case first = <-b.calls:
		case <-b.quit:
			return
		}
		batch := b.gather(first, &p)
		p.members = map[*model.Cache]bool{}
		for _, c := range batch {
			p.members[c.row.Cache] = true
		}
		start := time.Now()
		b.run(batch)
		p.ended = time.Now()
		p.took = p.ended.Sub(start)
	}
}

// pace is what the loop knows of the previous pass: whose rows it held, when it ended, how long
// it ran, and how long its members usually take to call again.
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

// gather collects the pass that starts with first: every pending call, and the members of
// the previous pass that call before the deadline.
func (b *Batcher) gather(first *stepCall, p *pace) []*stepCall {
	batch := []*stepCall{first}
	rows := first.row.N
	waiting := len(p.members) // members not yet in
	arrive := func(c *stepCall) {
		if p.members[c.row.Cache] {
			waiting--
			p.returned(time.Now())
		}
	}
	arrive(first)
	timer := time.NewTimer(time.Until(p.deadline(b.opt.Window)))
	defer timer.Stop()
	for rows < b.opt.MaxRows {
		var c *stepCall
		if waiting > 0 {
			select {
			case c = <-b.calls:
			case <-timer.C: // stop waiting; still take what is pending
				waiting = 0
				continue
			case <-b.quit:
				return batch
			}
		} else {
			select {
			case c = <-b.calls:
			default:
				return batch
			}
		}
		arrive(c)
		batch = append(batch, c)
		rows += c.row.N
	}
	return batch
}

// run computes a pass, one StepRows or LastLogitsRows per model and kind, and wakes its callers.
func (b *Batcher) run(batch []*stepCall) {
	type group struct {
		m      *model.Model
		logits bool
	}
	groups := map[group][]*stepCall{}
	for _, c := range batch {
		k := group{c.m, c.logits}
		groups[k] = append(groups[k], c)
	}
	rows := 0
	for _, calls := range groups {
		in := make([]model.Row, len(calls))
		for i, c := range calls {
			in[i] = c.row
			rows += c.row.N
		}
		for i, out := range calls[0].run(in) {
			calls[i].out = out
		}
	}
	for _, c := range batch {
		close(c.done)
	}
	if b.opt.OnBatch != nil {
		b.opt.OnBatch(rows, len(batch))
	}
}
