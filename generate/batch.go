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
// criterion, sampling, or done) as long as the previous pass took, and at most Window: waiting
// costs at most as much as it can gain. Rows longer than kernels.MaxRowwise (prefills,
// speculative verification) gain nothing from sharing the weights and would hold up the pass:
// they run at once on the caller's goroutine.
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
	var members map[*model.Cache]bool // the requests of the previous pass
	var last time.Duration            // how long the previous pass took
	for {
		var first *stepCall
		select {
		case first = <-b.calls:
		case <-b.quit:
			return
		}
		batch := b.gather(first, members, min(last, b.opt.Window))
		members = map[*model.Cache]bool{}
		for _, c := range batch {
			members[c.row.Cache] = true
		}
		start := time.Now()
		b.run(batch)
		last = time.Since(start)
	}
}

// gather collects the pass that starts with first: every pending call, and the members of
// the previous pass that return within the window.
func (b *Batcher) gather(first *stepCall, members map[*model.Cache]bool, window time.Duration) []*stepCall {
	batch := []*stepCall{first}
	rows := first.row.N
	waiting := 0 // members not yet in
	for c := range members {
		if c != first.row.Cache {
			waiting++
		}
	}
	timer := time.NewTimer(window)
	defer timer.Stop()
	for rows < b.opt.MaxRows {
		var c *stepCall
		if waiting > 0 {
			select {
			case c = <-b.calls:
			case <-timer.C:
				return batch
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
		if members[c.row.Cache] {
			waiting--
		}
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
