package generate

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batchModes are requests of every mode, with prompts shorter and longer than
// kernels.MaxRowwise (so prefills both join passes and step alone).
var batchModes = []struct {
	prompt []int
	opt    Options
}{
	{tinyPrompt, Options{Steps: 8}},
	{tinyPrompt[:3], Options{Steps: 5, Seed: 9, InitScale: 1, Sampling: Sampling{Temperature: 0.8, TopK: 20}}},
	{tinyPrompt[:7], Options{Steps: 16, Exit: &ExitOptions{Criterion: "kl", Threshold: ptr(1e-3)}}},
	{tinyPrompt, Options{Steps: 12, Exit: &ExitOptions{Criterion: "entropy-diff", MinSteps: 2, CheckEvery: 3}}},
	{tinyPrompt[:5], Options{Steps: 10, Exit: &ExitOptions{Criterion: "latent-diff"}, Continuous: true}},
	{tinyPrompt[:4], Options{Steps: 6, Continuous: true, InitScale: 1, Seed: 4}},
	{tinyPrompt[:6], Options{Steps: 8, Speculative: &SpeculativeOptions{DraftSteps: 2, Lookahead: 3}}},
	{tinyPrompt[:2], Options{Steps: 8, Speculative: &SpeculativeOptions{DraftSteps: 3, Lookahead: 4, ReuseDraft: true}}},
}

// TestBatcherMatchesAlone runs requests of mixed modes concurrently through one Batcher and
// checks that each yields exactly the tokens (ids, steps, exit values, logprobs) it yields
// alone, and that passes really held rows of several requests.
func TestBatcherMatchesAlone(t *testing.T) {
	m := loadTinyModel(t)
	want := make([][]Token, len(batchModes))
	for i, c := range batchModes {
		opt := c.opt
		opt.MaxNew, opt.Logprobs, opt.TopLogprobs = 12, true, 2
		var err error
		if want[i], err = Generate(m, c.prompt, opt); err != nil {
			t.Fatalf("mode %d: %v", i, err)
		}
	}
	var shared atomic.Int64 // passes with rows of more than one request
	b := NewBatcher(BatcherOptions{Window: 20 * time.Millisecond, OnBatch: func(rows, requests int) {
		if requests > 1 {
			shared.Add(1)
		}
	}})
	defer b.Close()
	for _, concurrent := range []int{1, 4, 16} {
		got := make([][]Token, concurrent)
		errs := make([]error, concurrent)
		var wg sync.WaitGroup
		for r := range concurrent {
			wg.Go(func() {
				c := batchModes[r%len(batchModes)]
				opt := c.opt
				opt.MaxNew, opt.Logprobs, opt.TopLogprobs, opt.Stepper = 12, true, 2, b
				got[r], errs[r] = Generate(m, c.prompt, opt)
			})
		}
		wg.Wait()
		for r := range concurrent {
			if err := sameTokens(got[r], want[r%len(batchModes)]); errs[r] != nil || err != nil {
				t.Errorf("%d concurrent, request %d (mode %d): %v %v", concurrent, r, r%len(batchModes), errs[r], err)
			}
		}
	}
	if shared.Load() == 0 {
		t.Error("no pass held rows of more than one request")
	}
}

// sameTokens compares token records exactly (NaN exit values equal to NaN).
func sameTokens(got, want []Token) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d tokens, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if math.Float64bits(g.ExitValue) != math.Float64bits(w.ExitValue) {
			return fmt.Errorf("token %d: exit value %v, want %v", i, g.ExitValue, w.ExitValue)
		}
		g.ExitValue, w.ExitValue = 0, 0
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("token %d: %+v, want %+v", i, g, w)
		}
	}
	return nil
}

// TestBatcherAfterClose checks that steps still run, unbatched, once the batcher is closed.
func TestBatcherAfterClose(t *testing.T) {
	m := loadTinyModel(t)
	b := NewBatcher(BatcherOptions{})
	b.Close()
	want, err := Generate(m, tinyPrompt[:3], Options{Steps: 4, MaxNew: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(m, tinyPrompt[:3], Options{Steps: 4, MaxNew: 3, Stepper: b})
	if err != nil || sameTokens(got, want) != nil {
		t.Errorf("after close: %v %v", err, sameTokens(got, want))
	}
}
