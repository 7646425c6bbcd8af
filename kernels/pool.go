package kernels

import (
	"runtime"
	"sync"
)

// pool is a fixed set of worker goroutines started once; Parallel hands them index ranges
// instead of starting goroutines per call.
type pool struct {
	work chan task
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	done   *sync.WaitGroup
}

var workers = startPool(runtime.GOMAXPROCS(0))

func startPool(n int) *pool {
	p := &pool{work: make(chan task, 4*n)}
	for i := 0; i < n; i++ {
		go func() {
			for t := range p.work {
				t.fn(t.lo, t.hi)
				t.done.Done()
			}
		}()
	}
	return p
}

// Workers is the number of pool workers (GOMAXPROCS at start-up).
func Workers() int { return cap(workers.work) / 4 }

// Parallel splits [0, n) into one contiguous range per worker and runs fn on each, returning
// when all are done. The caller's goroutine runs the first range itself. Safe for concurrent
// callers; fn must not call Parallel again (nested calls run serially to avoid deadlock).
func Parallel(n int, fn func(lo, hi int)) {
	parts := min(Workers(), n)
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + parts - 1) / parts
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		select {
		case workers.work <- task{fn: fn, lo: lo, hi: min(lo+chunk, n), done: &wg}:
		default: // every worker busy (nested or concurrent use): run it here
			fn(lo, min(lo+chunk, n))
			wg.Done()
		}
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// MaxIndex returns the index of the largest element (the first on ties; NaN never wins).
func MaxIndex(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
