package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// covered runs Parallel(n) with body and checks every index was visited exactly once.
func covered(t *testing.T, n int, body func(lo, hi int)) {
	t.Helper()
	visits := make([]atomic.Int32, n)
	Parallel(n, func(lo, hi int) {
		if lo < 0 || hi > n || lo >= hi {
			t.Errorf("Parallel(%d) gave the range [%d, %d)", n, lo, hi)
			return
		}
		for i := lo; i < hi; i++ {
			visits[i].Add(1)
		}
		if body != nil {
			body(lo, hi)
		}
	})
	for i := range visits {
		if v := visits[i].Load(); v != 1 {
			t.Fatalf("Parallel(%d): index %d visited %d times", n, i, v)
		}
	}
}

func TestParallelCoversEveryIndexOnce(t *testing.T) {
	for n := range 40 {
		covered(t, n, nil)
	}
	covered(t, 100003, nil)
}

// TestParallelNested nests three levels, which would deadlock a pool that queued work
// behind busy workers.
func TestParallelNested(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		covered(t, 8, func(lo, hi int) {
			covered(t, 5, func(lo, hi int) { covered(t, 3, nil) })
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("nested Parallel calls did not finish within 20 s (deadlock)")
	}
}

func TestParallelConcurrentCallers(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				var sum atomic.Int64
				Parallel(1000, func(lo, hi int) {
					s := 0
					for i := lo; i < hi; i++ {
						s += i
					}
					sum.Add(int64(s))
				})
				if got := sum.Load(); got != 999*1000/2 {
					t.Errorf("concurrent Parallel summed %d, want %d", got, 999*1000/2)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestParallelReraisesPanics(t *testing.T) {
	for _, bad := range []int{0, 99} { // the caller's own range and a worker's range
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("panic in range containing %d: recovered %v, want \"boom\"", bad, r)
				}
			}()
			Parallel(100, func(lo, hi int) {
				if lo <= bad && bad < hi {
					panic("boom")
				}
			})
		}()
	}
	covered(t, 100, nil) // the pool still works
}
