//go:build unix

package generate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/latentlab/latent/model"
)

// BenchmarkLatentReasoning compares the generation modes on a random model of the shape in
// testdata/bench-512.json (n_embd 512, 2/4/2 layers, vocab 8192, bf16 weights), written to a
// temporary folder, or on the model folder named by LATENT_BENCH_MODEL:
//
//	go test ./generate -run NONE -bench LatentReasoning -benchtime 1x
//
// Each case decodes 8 tokens after an 8-token prompt at r = 32 and reports decode speed (the
// prefill token excluded) per wall second and per CPU second of this process (the machine is
// shared, so CPU time is the steadier figure), mean recurrences per token and the KV cache per
// position, and the work: recurrences × positions per token and the share of drafts accepted.
func BenchmarkLatentReasoning(b *testing.B) {
	m := benchModel(b)
	rng := rand.New(rand.NewPCG(1, 1))
	prompt := make([]int, 8)
	for i := range prompt {
		prompt[i] = rng.IntN(m.Config.VocabSize)
	}
	kl := func() *ExitOptions { return &ExitOptions{Criterion: "kl"} }
	spec := func(draft int, reuse bool) *SpeculativeOptions {
		return &SpeculativeOptions{DraftSteps: draft, Lookahead: 4, ReuseDraft: reuse}
	}
	cases := []struct {
		name string
		opt  Options
	}{
		{"fixed-r32/full", Options{}},
		{"fixed-r32/compress-s16", Options{Cache: "compress-s16"}},
		{"fixed-r32/compress-anchor", Options{Cache: "compress-anchor"}},
		{"kl/latest-m4", Options{Exit: kl()}},
		{"kl/latest-m4-compress-s16", Options{Exit: kl(), Cache: "latest-m4-compress-s16"}},
		{"spec-d4-l4/full", Options{Speculative: spec(4, false)}},
		{"spec-d4-l4-reuse/full", Options{Speculative: spec(4, true)}},
		{"spec-d8-l4/full", Options{Speculative: spec(8, false)}},
		{"spec-d8-l4-reuse/full", Options{Speculative: spec(8, true)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.opt.MaxNew, c.opt.Steps = 9, 32
			var r benchRun
			for b.Loop() {
				r = runBench(b, m, prompt, c.opt)
			}
			b.ReportMetric(r.tokens/r.wall.Seconds(), "tok/s")
			b.ReportMetric(r.tokens/r.cpu.Seconds(), "tok/cpu-s")
			b.ReportMetric(r.steps/r.tokens, "steps/tok")
			b.ReportMetric(r.kvPerPosition/1024, "KV-KiB/pos")
			b.ReportMetric(float64(r.stats.PositionSteps)/float64(len(r.ids)), "pos-steps/tok")
			if r.stats.DraftTokens > 0 {
				b.ReportMetric(100*float64(r.stats.Accepted)/float64(r.stats.DraftTokens), "accept%")
			}
			b.Logf("%s: tokens %v", c.name, r.ids)
		})
	}
}

type benchRun struct {
	tokens, steps, kvPerPosition float64
	wall, cpu                    time.Duration
	ids                          []int
	stats                        Stats
}

// runBench generates and times the decode tokens (all but the first, which carries the prefill).
func runBench(b *testing.B, m *model.Model, prompt []int, opt Options) benchRun {
	g, err := New(m, prompt, opt)
	if err != nil {
		b.Fatal(err)
	}
	var r benchRun
	var wall0 time.Time
	var cpu0 time.Duration
	for tok, err := range g.Tokens() {
		if err != nil {
			b.Fatal(err)
		}
		r.ids = append(r.ids, tok.ID)
		if len(r.ids) == 1 {
			wall0, cpu0 = time.Now(), cpuTime()
			continue
		}
		r.tokens++
		r.steps += float64(tok.Steps)
	}
	r.wall, r.cpu = time.Since(wall0), cpuTime()-cpu0
	r.kvPerPosition = float64(g.Cache().Bytes()) / float64(g.Cache().Len())
	r.stats = g.Stats()
	return r
}

// cpuTime is the user + system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchModel(b *testing.B) *model.Model {
	dir := os.Getenv("LATENT_BENCH_MODEL")
	if dir == "" {
		cfg, err := model.LoadConfig("testdata/bench-512.json")
		if err != nil {
			b.Fatal(err)
		}
		dir = b.TempDir()
		if err := model.WriteRandomCheckpoint(cfg, dir, model.InitOptions{DType: "bf16", Shards: 1}); err != nil {
			b.Fatal(fmt.Errorf("writing the benchmark model: %w", err))
		}
	}
	m, err := model.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}
