package generate

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/latentlab/latent/model"
)

// wholeLogprobs scores prompt as one forward pass over all positions does (the head over
// every position in one product), from the initial state PromptLogprobs draws.
func wholeLogprobs(t *testing.T, m *model.Model, prompt []int, opt Options) []*TokenLogprobs {
	t.Helper()
	out, err := m.Forward(prompt, model.ForwardOptions{Steps: opt.Steps, InitScale: opt.InitScale, Seed: opt.Seed})
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocabSize
	lps := make([]*TokenLogprobs, len(prompt))
	for i := 1; i < len(prompt); i++ {
		lps[i] = Logprobs(out.Logits[(i-1)*V:i*V], prompt[i], opt.TopLogprobs)
	}
	return lps
}

// TestPromptLogprobsChunkedEqualsWhole checks echo's prompt logprobs, computed on their own
// and through a Batcher that runs the prelude, the recurrences and the coda with the head in
// chunks, against a whole forward pass, bitwise, for prompts shorter than kernels.MaxRowwise,
// just over it, and of several chunks (66: 65 scored positions, which a head cut in runs of 64
// would end with a one-row product of other bits).
func TestPromptLogprobsChunkedEqualsWhole(t *testing.T) {
	m := loadTinyModel(t)
	b := NewBatcher(BatcherOptions{PrefillChunk: model.MinChunkRows})
	defer b.Close()
	for _, n := range []int{5, model.MinChunkRows + 1, 66, 90, 150} {
		opt := Options{Steps: 6, InitScale: 1, Seed: uint64(n), TopLogprobs: 3}
		want := wholeLogprobs(t, m, longPrompt(n), opt)
		for name, stepper := range map[string]Stepper{"alone": nil, "batcher": b} {
			o := opt
			o.Stepper = stepper
			got, err := PromptLogprobs(m, longPrompt(n), o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%d positions, %s: prompt logprobs differ from the whole forward pass", n, name)
			}
		}
	}
}

// echoPass is what one pass held of the test's requests: the decoding request's rows, and the
// long request's positions by the kind of call.
type echoPass struct{ decode, prelude, step, logits int }

// passLog records the passes of a Batcher whose rows belong to a decoding request (decoder)
// and one other request, checking that none of the other's rows exceeds a chunk.
type passLog struct {
	t       *testing.T
	decoder *model.Cache
	bound   int
	mu      sync.Mutex
	passes  []echoPass
}

func (l *passLog) onBatch(rows []model.Row) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var p echoPass
	for _, r := range rows {
		switch {
		case r.Cache == l.decoder:
			p.decode++
			continue
		case r.N > l.bound:
			l.t.Errorf("a row of %d positions, over the chunk bound %d", r.N, l.bound)
		}
		switch {
		case r.IDs != nil:
			p.prelude += r.N
		case r.E != nil:
			p.step += r.N
		default:
			p.logits += r.N
		}
	}
	l.passes = append(l.passes, p)
}

// span returns the first and last pass holding positions of the long request picked by n, and
// how many passes did.
func (l *passLog) span(n func(echoPass) int) (first, last, count int) {
	first, last = -1, -1
	for i, p := range l.passes {
		if n(p) > 0 {
			if first < 0 {
				first = i
			}
			last, count = i, count+1
		}
	}
	return first, last, count
}

// decodedIn counts the decoding request's rows in passes first..last.
func (l *passLog) decodedIn(first, last int) int {
	n := 0
	for _, p := range l.passes[first : last+1] {
		n += p.decode
	}
	return n
}

// startDecoder starts a request that decodes (through b) until ctx ends and waits for its
// first token; the returned channel gives its error.
func startDecoder(t *testing.T, m *model.Model, ctx context.Context, b *Batcher, log *passLog) <-chan error {
	t.Helper()
	decoder, err := New(m, tinyPrompt[:3], Options{Steps: 4, MaxNew: m.Config.BlockSize - 3, Context: ctx, Stepper: b, StopTokens: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	log.decoder = decoder.Cache()
	log.mu.Unlock()
	return decodeInBackground(decoder)
}

// TestDecodingGoesOnBesideLongEcho scores a long prompt (echo's prompt logprobs) while another
// request decodes, through one Batcher, and checks from the passes' rows that all of the
// prompt's work (its prelude, every recurrence, and the coda with the head over all positions)
// ran in chunks within the prefill budget, and that the decoding request took recurrences
// while the prelude ran and while the logits ran; the logprobs equal those computed alone.
func TestDecodingGoesOnBesideLongEcho(t *testing.T) {
	m := loadTinyModel(t)
	const chunk = model.MinChunkRows
	long := longPrompt(200)
	opt := Options{Steps: 4, TopLogprobs: 2}
	want, err := PromptLogprobs(m, long, opt)
	if err != nil {
		t.Fatal(err)
	}
	log := &passLog{t: t, bound: chunk + model.MinChunkRows - 1}
	b := NewBatcher(BatcherOptions{PrefillChunk: chunk, Window: 20 * time.Millisecond, OnBatch: log.onBatch})
	defer b.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	decoded := startDecoder(t, m, ctx, b, log)
	opt.Stepper = b
	got, err := PromptLogprobs(m, long, opt)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-decoded; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("decoding request: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("prompt logprobs through the batcher differ from those computed alone")
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var total echoPass
	for _, p := range log.passes {
		total.prelude, total.step, total.logits = total.prelude+p.prelude, total.step+p.step, total.logits+p.logits
	}
	if want := (echoPass{prelude: len(long), step: opt.Steps * len(long), logits: len(long)}); total != want {
		t.Fatalf("the passes held %+v positions of the long prompt, want %+v", total, want)
	}
	for _, phase := range []struct {
		name string
		n    func(echoPass) int
	}{{"prelude", func(p echoPass) int { return p.prelude }}, {"logits", func(p echoPass) int { return p.logits }}} {
		first, last, count := log.span(phase.n)
		if min := len(long) / (chunk + model.MinChunkRows); count < min {
			t.Errorf("%s: %d passes, want at least %d chunks", phase.name, count, min)
		}
		during := log.decodedIn(first, last)
		t.Logf("%s: %d chunk passes over %d passes; the decoder ran %d recurrences in them", phase.name, count, last-first+1, during)
		if during < count/2 {
			t.Errorf("%s: the decoding request ran %d recurrences in the %d passes of the long prompt's chunks, want at least %d", phase.name, during, last-first+1, count/2)
		}
	}
}

// TestCancelledPrefillStopsAtNextChunk cancels a long prompt's request from within the pass
// that holds its first chunk of a prelude, a recurrence or the logits, and checks that no
// later pass holds any of its rows (it stops at the next chunk, not at the end of the
// recurrence), that it ends with the context's error, and that nothing leaks: the prefill
// budget is free and no goroutine is left behind.
func TestCancelledPrefillStopsAtNextChunk(t *testing.T) {
	m := loadTinyModel(t)
	long := longPrompt(200)
	before := runtime.NumGoroutine()
	kinds := map[string]func(model.Row) bool{
		"prelude": func(r model.Row) bool { return r.IDs != nil },
		"step":    func(r model.Row) bool { return r.E != nil },
		"logits":  func(r model.Row) bool { return r.IDs == nil && r.E == nil },
	}
	for name, is := range kinds {
		for _, echo := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			var mu sync.Mutex
			after := -1 // the request's rows in passes after the cancelling one
			b := NewBatcher(BatcherOptions{PrefillChunk: model.MinChunkRows, OnBatch: func(rows []model.Row) {
				mu.Lock()
				defer mu.Unlock()
				if after >= 0 {
					after += len(rows)
				}
				for _, r := range rows {
					if after < 0 && is(r) {
						after = 0
						cancel()
					}
				}
			}})
			opt := Options{Steps: 32, MaxNew: 2, Stepper: b, Context: ctx}
			var err error
			if echo {
				_, err = PromptLogprobs(m, long, opt)
			} else {
				_, err = Generate(m, long, opt)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s (echo %v): error %v, want context.Canceled", name, echo, err)
			}
			mu.Lock()
			if after != 0 {
				t.Errorf("%s (echo %v): %d rows ran after the cancel (-1: the cancelling row never came)", name, echo, after)
			}
			mu.Unlock()
			if n := b.long.positions(); n != 0 {
				t.Errorf("%s (echo %v): %d prefill positions still counted against the budget", name, echo, n)
			}
			b.Close()
			cancel()
		}
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until no more goroutines run than before (those that end a pass may
// still be exiting) and fails after a generous while.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	for start := time.Now(); runtime.NumGoroutine() > before; {
		if time.Since(start) > 10*time.Second {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
