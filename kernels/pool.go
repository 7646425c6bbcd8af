package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// worker is one goroutine of the persistent pool. A caller hands it a job only after claiming
// it (idle true → false), so a handed job never waits behind another: nested and concurrent
// calls to Parallel cannot deadlock, they run the ranges they could not hand out themselves.
type worker struct {
	idle atomic.Bool
	jobs chan job
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
	done   *sync.WaitGroup
	failed *atomic.Pointer[any] // the first panic of any range, re-raised by the caller
}

var pool = startPool(runtime.GOMAXPROCS(0))

func startPool(n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		w := &worker{jobs: make(chan job, 1)}
		w.idle.Store(true)
		ws[i] = w
		go w.run()
	}
	return ws
}

func (w *worker) run() {
	for j := range w.jobs {
		j.runRange()
		w.idle.Store(true)
		j.done.Done()
	}
}

// runRange runs the job's range, recording a panic instead of crashing the worker.
func (j job) runRange() {
	defer func() {
		if r := recover(); r != nil {
			j.failed.CompareAndSwap(nil, &r)
		}
	}()
	j.fn(j.lo, j.hi)
}

// claim returns an idle worker, now marked busy, or nil when all are busy.
func claim() *worker {
	for _, w := range pool {
		if w.idle.CompareAndSwap(true, false) {
			return w
		}
	}
	return nil
}

// Workers is the number of pool workers (GOMAXPROCS at start-up).
func Workers() int { return len(pool) }

// Parallel splits [0, n) into up to Workers() contiguous ranges and runs fn on each, returning
// when all are done. The calling goroutine runs the first range, and any range no idle worker
// can take, itself. Safe for concurrent callers and for fn calling Parallel again. A panic in
// fn is re-raised in the caller after every range has finished.
func Parallel(n int, fn func(lo, hi int)) {
	parts := min(len(pool), n)
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	var failed atomic.Pointer[any]
	chunk := (n + parts - 1) / parts
	for lo := chunk; lo < n; lo += chunk {
		j := job{fn: fn, lo: lo, hi: min(lo+chunk, n), done: &wg, failed: &failed}
		wg.Add(1)
		if w := claim(); w != nil {
			w.jobs <- j
		} else {
			j.runRange()
			wg.Done()
		}
	}
	job{fn: fn, lo: 0, hi: chunk, failed: &failed}.runRange()
	wg.Wait()
	if p := failed.Load(); p != nil {
		panic(*p)
	}
}
