//go:build unix

package generate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentlab/latent/model"
)

// BenchmarkDepthBatching measures aggregate decode throughput with 1, 2, 4, 8 and 16
// concurrent streams sharing one Batcher, at r = 32 with a fixed recurrence and with the kl
// exit, on the model of BenchmarkLatentReasoning (testdata/bench-512.json or
// LATENT_BENCH_MODEL):
//
//	go test ./generate -run NONE -bench DepthBatching -benchtime 1x
//
// Each stream generates LATENT_BENCH_TOKENS (default 8) tokens after its own 4-token prompt (the
// first token carries the prefill); the figure is all streams' tokens per wall second, and x1
// its ratio to one stream in the same run. LATENT_BENCH_STREAMS (default 1,2,4,8,16) picks the
// stream counts, the first taken as the reference.
func BenchmarkDepthBatching(b *testing.B) {
	m := benchModel(b)
	tokens := benchTokens(b)
	for _, mode := range []struct {
		name string
		exit *ExitOptions
	}{{"fixed-r32", nil}, {"kl", &ExitOptions{Criterion: "kl"}}} {
		var one float64
		for _, streams := range benchStreams(b) {
			b.Run(fmt.Sprintf("%s/streams-%d", mode.name, streams), func(b *testing.B) {
				var rate, steps float64
				for b.Loop() {
					rate, steps = runStreams(b, m, streams, tokens, Options{Steps: 32, Exit: mode.exit})
				}
				if one == 0 {
					one = rate
				}
				b.ReportMetric(rate, "tok/s")
				b.ReportMetric(rate/one, "x1")
				b.ReportMetric(steps, "steps/tok")
			})
		}
	}
}

func benchTokens(b *testing.B) int {
	v := os.Getenv("LATENT_BENCH_TOKENS")
	if v == "" {
		return 8
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("LATENT_BENCH_TOKENS=%q: want a positive integer", v)
	}
	return n
}

func benchStreams(b *testing.B) []int {
	v := os.Getenv("LATENT_BENCH_STREAMS")
	if v == "" {
		return []int{1, 2, 4, 8, 16}
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			b.Fatalf("LATENT_BENCH_STREAMS=%q: want positive integers separated by commas", v)
		}
		out = append(out, n)
	}
	return out
}

// runStreams decodes tokens tokens on each of streams concurrent requests through one batcher
// and returns the aggregate tokens per second and the mean recurrences per token.
func runStreams(b *testing.B, m *model.Model, streams, tokens int, opt Options) (float64, float64) {
	batcher := NewBatcher(BatcherOptions{})
	defer batcher.Close()
	var wg sync.WaitGroup
	steps := make([]int, streams)
	start := time.Now()
	for i := range streams {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			prompt := make([]int, 4)
			for k := range prompt {
				prompt[k] = rng.IntN(m.Config.VocabSize)
			}
			o := opt
			o.MaxNew, o.Stepper, o.StopTokens = tokens, batcher, []int{}
			toks, err := Generate(m, prompt, o)
			if err != nil {
				b.Error(err)
			}
			for _, t := range toks {
				steps[i] += t.Steps
			}
		})
	}
	wg.Wait()
	total := 0
	for _, s := range steps {
		total += s
	}
	n := float64(streams * tokens)
	return n / time.Since(start).Seconds(), float64(total) / n
}
