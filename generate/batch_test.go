package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latentlab/latent/model"
)

// longPrompt returns a prompt of n tokens of the tiny model's vocabulary.
func longPrompt(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = 1 + (i*37+11)%500
	}
	return p
}

// batchChunk is the prefill chunk of the batching tests: the long prompts below take several.
const batchChunk = 24

// batchModes are requests of every mode, with prompts shorter and longer than
// kernels.MaxRowwise (so prefills both join passes and step alone), and long prompts beside
// them whose prefills run in chunks (one with a strategy that must prefill whole).
var batchModes = []struct {
	prompt []int
	opt    Options
}{
	{tinyPrompt, Options{Steps: 8}},
	{longPrompt(150), Options{Steps: 6}},
	{tinyPrompt[:3], Options{Steps: 5, Seed: 9, InitScale: 1, Sampling: Sampling{Temperature: 0.8, TopK: 20}}},
	{longPrompt(100), Options{Steps: 10, InitScale: 1, Seed: 3, Exit: &ExitOptions{Criterion: "kl", Threshold: ptr(1e-3)}}},
	{tinyPrompt[:7], Options{Steps: 16, Exit: &ExitOptions{Criterion: "kl", Threshold: ptr(1e-3)}}},
	{tinyPrompt, Options{Steps: 12, Exit: &ExitOptions{Criterion: "entropy-diff", MinSteps: 2, CheckEvery: 3}}},
	{longPrompt(120), Options{Steps: 8, Cache: "latest-m4-compress-s4", Exit: &ExitOptions{Criterion: "latent-diff"}, Continuous: true}},
	{tinyPrompt[:5], Options{Steps: 10, Exit: &ExitOptions{Criterion: "latent-diff"}, Continuous: true}},
	{tinyPrompt[:4], Options{Steps: 6, Continuous: true, InitScale: 1, Seed: 4}},
	{longPrompt(90), Options{Steps: 6, Speculative: &SpeculativeOptions{DraftSteps: 2, Lookahead: 3}}},
	{tinyPrompt[:6], Options{Steps: 8, Speculative: &SpeculativeOptions{DraftSteps: 2, Lookahead: 3}}},
	{longPrompt(80), Options{Steps: 5, Cache: "compress-s2"}},
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
	var shared, chunks atomic.Int64 // passes with rows of more than one request; prefill chunks
	b := NewBatcher(BatcherOptions{Window: 20 * time.Millisecond, PrefillChunk: batchChunk, OnBatch: func(rows []model.Row) {
		if len(rows) > 1 {
			shared.Add(1)
		}
		for _, r := range rows {
			if r.N >= model.MinChunkRows && r.Pos > 0 {
				chunks.Add(1) // a prefill chunk after the first (no other row starts past 0 this long)
			}
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
	if chunks.Load() == 0 {
		t.Error("no pass held a prefill chunk")
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

// TestLongPrefillDoesNotStallDecoding starts a long prompt while another request decodes and
// checks, from the passes' rows, that the long prompt's recurrences ran in chunks of bounded
// size spread over many passes, and that the decoding request took recurrences in the passes
// between the long prompt's first and last prefill chunk; both requests' tokens equal their
// tokens alone.
func TestLongPrefillDoesNotStallDecoding(t *testing.T) {
	m := loadTinyModel(t)
	const chunk = model.MinChunkRows
	long := longPrompt(200)
	longOpt := Options{Steps: 6, MaxNew: 2}
	want, err := Generate(m, long, longOpt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	decodeOpt := Options{Steps: 4, MaxNew: 250, Context: ctx}
	decoder, err := New(m, tinyPrompt[:3], decodeOpt)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	type passRows struct{ decode, prefill int } // the decoder's rows; the long prompt's prefill positions
	var passes []passRows
	var prefill *model.Cache // the long request's cache, once it starts
	b := NewBatcher(BatcherOptions{PrefillChunk: chunk, Window: 20 * time.Millisecond, OnBatch: func(rows []model.Row) {
		mu.Lock()
		defer mu.Unlock()
		var p passRows
		for _, r := range rows {
			switch {
			case r.Cache == decoder.Cache():
				p.decode++
			case r.Cache == prefill && r.Pos < len(long):
				if r.N > chunk+model.MinChunkRows-1 {
					t.Errorf("a prefill row of %d positions, over the chunk bound %d", r.N, chunk+model.MinChunkRows-1)
				}
				p.prefill += r.N
			}
		}
		passes = append(passes, p)
	}})
	defer b.Close()
	decoder.opt.Stepper = b
	decoded := decodeInBackground(decoder)
	longOpt.Stepper = b
	g, err := New(m, long, longOpt)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	prefill = g.Cache()
	mu.Unlock()
	var got []Token
	for tok, err := range g.Tokens() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok)
	}
	stop()
	if err := <-decoded; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("decoding request: %v", err)
	}
	if err := sameTokens(got, want); err != nil {
		t.Errorf("long prompt through the batcher: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	first, last, chunkPasses := -1, -1, 0
	for i, p := range passes {
		if p.prefill > 0 {
			if first < 0 {
				first = i
			}
			last, chunkPasses = i, chunkPasses+1
		}
	}
	minChunks := longOpt.Steps * (len(long) / (chunk + model.MinChunkRows)) // recurrences alone, not the coda
	if chunkPasses < minChunks {
		t.Fatalf("the prefill ran in %d passes, want at least %d chunks", chunkPasses, minChunks)
	}
	during := 0
	for _, p := range passes[first : last+1] {
		during += p.decode
	}
	t.Logf("prefill: %d chunk passes over %d passes; the decoder ran %d recurrences in them", chunkPasses, last-first+1, during)
	if during < chunkPasses/2 {
		t.Errorf("the decoding request ran %d recurrences in the %d passes of the long prefill, want at least %d", during, last-first+1, chunkPasses/2)
	}
}

// decodeInBackground runs decoder's tokens on a goroutine, returns once the first has come,
// and then reports on the channel how the decoding ended.
func decodeInBackground(decoder *Generator) <-chan error {
	decoded := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		n := 0
		for _, err := range decoder.Tokens() {
			if n++; n == 1 {
				close(started)
			}
			if err != nil {
				decoded <- err
				return
			}
		}
		decoded <- nil
	}()
	<-started
	return decoded
}
