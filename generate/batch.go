package generate

import (
	"sync"
	"time"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
)

// Stepper runs the recurrences of generators. Left nil in Options, each generator steps on its
// own; a Batcher shared by concurrent generators runs their recurrences together.
type Stepper interface {
	Step(m *model.Model, row model.Row) []float32
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
// goroutine, each with its own decoding loop, criterion and cache) hand it their recurrences,
// and it runs the pending ones together through model.StepRows, one product per weight matrix
// for all rows, whatever recurrence, position or request each row is at. Requests join and
// leave between any two recurrences. Since StepRows equals stepping alone bitwise, every
// request's tokens are those it would get alone.
//
// A pass starts with the first pending recurrence, takes every other pending one, and waits for
// the requests of the previous pass that have not come back yet (they may be in their coda, or
// done) as long as the previous pass took, and at most Window: waiting costs at most as much as
// it can gain. Rows longer than kernels.MaxRowwise (prefills) do not wait: StepRows runs
// them alone.
type Batcher struct {
	opt   BatcherOptions
	calls chan *stepCall
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type stepCall struct {
	m    *model.Model
	row  model.Row
	out  []float32
	done chan struct{}
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
	if row.N > kernels.MaxRowwise {
		return m.Step(row.S, row.E, row.N, row.Pos, row.T, row.Cache)
	}
	c := &stepCall{m: m, row: row, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-b.quit:
		return m.Step(row.S, row.E, row.N, row.Pos, row.T, row.Cache)
	}
	<-c.done
	return c.out
}

func (b *Batcher) loop() {
	defer close(b.done)
	var members map[*model.Cache]bool // the requests of the previous pass
	var last time.Duration             // how long the previous pass took
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

// run steps a pass, one StepRows per model, and wakes its callers.
func (b *Batcher) run(batch []*stepCall) {
	byModel := map[*model.Model][]*stepCall{}
	for _, c := range batch {
		byModel[c.m] = append(byModel[c.m], c)
	}
	rows := 0
	for m, calls := range byModel {
		in := make([]model.Row, len(calls))
		for i, c := range calls {
			in[i] = c.row
			rows += c.row.N
		}
		for i, out := range m.StepRows(in) {
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
