//go:build unix

package generate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/latentlab/latent/model"
)

// BenchmarkDepthBatching measures aggregate decode throughput with 1, 2, 4, 8 and 16
// concurrent streams sharing one Batcher, at r = 32 with a fixed recurrence and with the kl
// exit, on the model of BenchmarkLatentReasoning (testdata/bench-512.json or
// LATENT_BENCH_MODEL):
//
//	go test ./generate -run NONE -bench DepthBatching -benchtime 1x
//
// Each stream generates LATENT_BENCH_TOKENS (default 8) tokens after its own prompt of
// LATENT_BENCH_PROMPT (default 4) tokens. tok/s is all streams' tokens per wall second (the
// first token of each carries its prefill) and x1 its ratio to one stream in the same run;
// decode-tok/s counts only the tokens decided while every stream was decoding (from the last
// stream's first token to the first stream's last), and decode-x1 is its ratio; rows/pass is the
// mean rows (requests) per batched pass, the sharing the passes achieved. The modes
// (LATENT_BENCH_MODES, default fixed-r32,kl) and stream counts (LATENT_BENCH_STREAMS, default
// 1,2,4,8,16, the first taken as the reference) can be narrowed to keep a run short.
// LATENT_BENCH_MLOCK=1 locks the weights in memory, so that on a machine short of memory the
// page cache cannot evict them between tokens and turn the figures into disk reads.
func BenchmarkDepthBatching(b *testing.B) {
	m := benchModel(b)
	if os.Getenv("LATENT_BENCH_MLOCK") == "1" {
		lockWeights(b, m)
	}
	tokens := benchInt(b, "LATENT_BENCH_TOKENS", 8)
	promptLen := benchInt(b, "LATENT_BENCH_PROMPT", 4)
	modes := map[string]*ExitOptions{"fixed-r32": nil, "kl": {Criterion: "kl"}}
	runStreams(b, m, 1, 1, 1, Options{Steps: 1}) // reads every weight once: no reference run on a cold page cache
	for _, mode := range benchList(b, "LATENT_BENCH_MODES", "fixed-r32,kl") {
		exit, ok := modes[mode]
		if !ok {
			b.Fatalf("LATENT_BENCH_MODES: unknown mode %q (want fixed-r32, kl)", mode)
		}
		var one, oneDecode float64
		for _, streams := range benchStreams(b) {
			b.Run(fmt.Sprintf("%s/streams-%d", mode, streams), func(b *testing.B) {
				var r streamRates
				for b.Loop() {
					r = runStreams(b, m, streams, promptLen, tokens, Options{Steps: 32, Exit: exit})
				}
				if one == 0 {
					one, oneDecode = r.all, r.decode
				}
				b.ReportMetric(r.all, "tok/s")
				b.ReportMetric(r.all/one, "x1")
				b.ReportMetric(r.decode, "decode-tok/s")
				b.ReportMetric(r.decode/oneDecode, "decode-x1")
				b.ReportMetric(r.steps, "steps/tok")
				b.ReportMetric(r.rows, "rows/pass")
			})
		}
	}
}

func benchInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func benchList(b *testing.B, name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

func benchStreams(b *testing.B) []int {
	var out []int
	for _, f := range benchList(b, "LATENT_BENCH_STREAMS", "1,2,4,8,16") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			b.Fatalf("LATENT_BENCH_STREAMS: %q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out
}

// streamRates are a run's aggregate tokens per second (all, and decode only), its mean
// recurrences per token and its mean rows per batched pass.
type streamRates struct{ all, decode, steps, rows float64 }

// runStreams decodes tokens tokens on each of streams concurrent requests (prompts of
// promptLen random tokens) through one batcher.
func runStreams(b *testing.B, m *model.Model, streams, promptLen, tokens int, opt Options) streamRates {
	var passes, rows atomic.Int64
	batcher := NewBatcher(BatcherOptions{OnBatch: func(r []model.Row) { passes.Add(1); rows.Add(int64(len(r))) }})
	defer batcher.Close()
	var wg sync.WaitGroup
	steps := make([]int, streams)
	times := make([][]time.Time, streams) // when each token was decided
	start := time.Now()
	for i := range streams {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			prompt := make([]int, promptLen)
			for k := range prompt {
				prompt[k] = rng.IntN(m.Config.VocabSize)
			}
			o := opt
			o.MaxNew, o.Stepper, o.StopTokens = tokens, batcher, []int{}
			g, err := New(m, prompt, o)
			if err != nil {
				b.Error(err)
				return
			}
			for tok, err := range g.Tokens() {
				if err != nil {
					b.Error(err)
					return
				}
				times[i] = append(times[i], time.Now())
				steps[i] += tok.Steps
			}
		})
	}
	wg.Wait()
	end := time.Now()
	total := 0
	for _, s := range steps {
		total += s
	}
	n := float64(streams * tokens)
	return streamRates{all: n / end.Sub(start).Seconds(), decode: decodeRate(times), steps: float64(total) / n,
		rows: float64(rows.Load()) / float64(max(passes.Load(), 1))}
}

// decodeRate is the tokens per second decided while every stream was decoding: after the last
// stream's first token, up to the first stream's last; 0 when the streams never overlapped.
func decodeRate(times [][]time.Time) float64 {
	var from, to time.Time
	for i, ts := range times {
		if len(ts) == 0 {
			return 0
		}
		if i == 0 || ts[0].After(from) {
			from = ts[0]
		}
		if i == 0 || ts[len(ts)-1].Before(to) {
			to = ts[len(ts)-1]
		}
	}
	if !to.After(from) {
		return 0
	}
	n := 0
	for _, ts := range times {
		for _, t := range ts {
			if t.After(from) && !t.After(to) {
				n++
			}
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// BenchmarkDecodeBesideLongPrompt measures how a long prompt's prefill slows a request that is
// decoding: one stream decodes at r = 8 (1-token prompt) while, from its eighth token on, a
// second request prefills LATENT_BENCH_LONG (default 240) tokens (LATENT_BENCH_LONG_COUNT such
// requests at once, default 1). alone-tok/s is the decoder's rate over its tokens before the long
// prompts came, beside-tok/s over the tokens it decided while they were prefilling, and beside-x1
// their ratio (1: no slow-down; 0: a stall).
//
//	go test ./generate -run NONE -bench DecodeBesideLongPrompt -benchtime 1x
func BenchmarkDecodeBesideLongPrompt(b *testing.B) {
	m := benchModel(b)
	long := make([]int, benchInt(b, "LATENT_BENCH_LONG", 240))
	for i := range long {
		long[i] = (i*37 + 11) % m.Config.VocabSize
	}
	count := benchInt(b, "LATENT_BENCH_LONG_COUNT", 1)
	var alone, beside float64
	for b.Loop() {
		alone, beside = decodeBeside(b, m, long, count)
	}
	b.ReportMetric(alone, "alone-tok/s")
	b.ReportMetric(beside, "beside-tok/s")
	b.ReportMetric(beside/alone, "beside-x1")
}

// decodeBeside runs the decoder and the long prompt of BenchmarkDecodeBesideLongPrompt and
// returns the decoder's rates alone and beside the prefill.
func decodeBeside(b *testing.B, m *model.Model, long []int, count int) (alone, beside float64) {
	var passes, rows atomic.Int64
	batcher := NewBatcher(BatcherOptions{OnBatch: func(r []model.Row) { passes.Add(1); rows.Add(int64(len(r))) }})
	defer batcher.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dec, err := New(m, []int{1}, Options{Steps: 8, MaxNew: m.Config.BlockSize - 1, Stepper: batcher, Context: ctx, StopTokens: []int{}})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var times []time.Time
	const warm = 8 // tokens alone before the long prompt comes
	started, decoded := make(chan struct{}), make(chan struct{})
	defer func() { stop(); <-decoded }() // the decoder is done with the model before it closes
	go func() {
		defer close(decoded)
		for _, err := range dec.Tokens() {
			if err != nil {
				return
			}
			mu.Lock()
			if times = append(times, time.Now()); len(times) == warm {
				close(started)
			}
			mu.Unlock()
		}
	}()
	<-started
	from := time.Now()
	var wg sync.WaitGroup
	for range count {
		wg.Go(func() {
			if _, err := Generate(m, long, Options{Steps: 8, MaxNew: 1, Stepper: batcher}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	to := time.Now()
	stop()
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for _, t := range times {
		if t.After(from) && !t.After(to) {
			n++
		}
	}
	alone = (warm - 1) / times[warm-1].Sub(times[0]).Seconds()
	return alone, float64(n) / to.Sub(from).Seconds()
}

// lockWeights locks every weight matrix in memory (mlock) for the benchmark's run.
func lockWeights(b *testing.B, m *model.Model) {
	w := m.Weights
	matrices := []*model.Matrix{&w.Embedding, &w.Adapter}
	for _, stage := range [][]model.Block{w.Prelude, w.Core, w.Coda} {
		for i := range stage {
			blk := &stage[i]
			matrices = append(matrices, &blk.Wqkv, &blk.Proj, &blk.FC, &blk.MLPProj)
		}
	}
	if w.Head.BF16 != nil && &w.Head.BF16[0] != &w.Embedding.BF16[0] || w.Head.F32 != nil && &w.Head.F32[0] != &w.Embedding.F32[0] {
		matrices = append(matrices, &w.Head)
	}
	var locked [][]byte
	for _, mat := range matrices {
		var mem []byte
		switch {
		case mat.BF16 != nil:
			mem = unsafe.Slice((*byte)(unsafe.Pointer(&mat.BF16[0])), 2*len(mat.BF16))
		case mat.F32 != nil:
			mem = unsafe.Slice((*byte)(unsafe.Pointer(&mat.F32[0])), 4*len(mat.F32))
		default:
			continue
		}
		if err := syscall.Mlock(mem); err != nil {
			b.Fatalf("LATENT_BENCH_MLOCK: locking %d MB of weights: %v", len(mem)>>20, err)
		}
		locked = append(locked, mem)
	}
	b.Cleanup(func() {
		for _, mem := range locked {
			syscall.Munlock(mem)
		}
	})
}
