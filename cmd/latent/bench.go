package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
	"github.com/spf13/cobra"
)

func init() {
	var (
		dir                    string
		steps, prefill, decode int
		strategy               string
		showKernels, refresh   bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed against the memory bandwidth measured in the same run",
		Long: "Measure prefill and decode speed against the memory bandwidth measured in the same run.\n" +
			"With --kernels, print which kernel path each product with 1–16 rows takes on this CPU and the\n" +
			"timings that chose it (--refresh measures them again and rewrites the cache).",
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if showKernels || refresh {
				return printKernels(refresh)
			}
			if dir == "" {
				return fmt.Errorf(`required flag(s) "model" not set`)
			}
			if steps < 1 || prefill < 1 || decode < 1 {
				return fmt.Errorf("--steps, --prefill and --tokens must be positive")
			}
			return runBench(dir, steps, prefill, decode, strategy)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder")
	stepsVar(f, &steps, "steps", 32, "recurrence steps r")
	f.IntVar(&prefill, "prefill", 64, "prompt length for the prefill measurement")
	f.IntVar(&decode, "tokens", 4, "tokens to decode")
	f.StringVar(&strategy, "cache", "full", "KV cache lookup strategy")
	f.BoolVar(&showKernels, "kernels", false, "print the kernel paths chosen on this CPU and why (no --model needed)")
	f.BoolVar(&refresh, "refresh", false, "with --kernels: measure the kernel paths again and rewrite the cache")
	rootCmd.AddCommand(cmd)
}

// decodeBytes is the weight bytes one decoded token reads: prelude, r × (adapter + core), coda,
// and the output head.
func decodeBytes(w *model.Weights, steps int) int64 {
	var blocks = func(bs []model.Block) (n int64) {
		for i := range bs {
			b := &bs[i]
			n += b.Wqkv.Bytes() + b.Proj.Bytes() + b.FC.Bytes() + b.MLPProj.Bytes()
		}
		return n
	}
	return blocks(w.Prelude) + int64(steps)*(w.Adapter.Bytes()+blocks(w.Core)) + blocks(w.Coda) + w.Head.Bytes()
}

func runBench(dir string, steps, prefill, decode int, strategy string) error {
	start := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Printf("loaded %s in %.2fs (%.2f GB of weights)\n", dir, time.Since(start).Seconds(), float64(m.Weights.Bytes())/1e9)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, prefill)
	for i := range ids {
		ids[i] = rng.IntN(m.Config.VocabSize)
	}
	t0 := time.Now()
	if _, err := m.Forward(ids, model.ForwardOptions{Steps: steps}); err != nil {
		return err
	}
	pre := time.Since(t0)
	fmt.Printf("prefill  %d tokens × r=%d: %.2fs, %.2f tokens/s\n", prefill, steps, pre.Seconds(), float64(prefill)/pre.Seconds())

	cache, err := model.NewCache(m.Config, strategy)
	if err != nil {
		return err
	}
	if _, err := m.Forward(ids[:1], model.ForwardOptions{Steps: steps, Cache: cache}); err != nil {
		return err
	}
	t1 := time.Now()
	for i := 0; i < decode; i++ {
		if _, err := m.Forward([]int{ids[(1+i)%prefill]}, model.ForwardOptions{Steps: steps, Cache: cache, Pos: 1 + i}); err != nil {
			return err
		}
	}
	dec := time.Since(t1).Seconds() / float64(decode)
	bytes := decodeBytes(m.Weights, steps)
	// Read before the bandwidth measurement, whose own 1 GiB buffer is not the model's.
	rss := peakRSS()
	bw := kernels.MeasureBandwidth(1 << 30)
	bound := float64(bytes) / (bw * 1e9)
	fmt.Printf("decode   %d tokens × r=%d: %.3fs/token, %.3f tokens/s, %.2f GB of weights per token\n", decode, steps, dec, 1/dec, float64(bytes)/1e9)
	fmt.Printf("         effective %.1f GB/s of weights; memory read bandwidth measured now %.1f GB/s\n", float64(bytes)/dec/1e9, bw)
	fmt.Printf("         time per token / bandwidth bound (%.3fs) = %.2f×\n", bound, dec/bound)
	fmt.Printf("memory   peak resident %.2f GB before the bandwidth measurement; weights %.2f GB + KV cache %.4f GB\n", rss/1e9, float64(m.Weights.Bytes())/1e9, float64(cache.Bytes())/1e9)
	return nil
}

// printKernels prints the kernel implementation in use and, for products with 1–16 rows of
// bf16 and fp32 weights, the path chosen and the time of each path compared.
func printKernels(refresh bool) error {
	fmt.Printf("kernels  %s\n", kernels.Backend())
	c, err := kernels.RowPaths(refresh)
	if c == nil {
		fmt.Println("no assembly kernels: every product runs the portable Go code")
		return err
	}
	fmt.Printf("cpu      %s, %s kernels, %d workers\n", c.CPU, c.ISA, c.Workers)
	fmt.Printf("choice   %s; measured %s on %d×%d weights\n", c.Source, c.Measured.Format(time.RFC3339), c.Shape[0], c.Shape[1])
	fmt.Println("weights rows  chosen  ms per product (measured, or ~interpolated)")
	for _, p := range c.Products {
		names := make([]string, 0, len(p.Seconds))
		for name := range p.Seconds {
			names = append(names, name)
		}
		slices.Sort(names)
		mark := ""
		if p.Interpolated {
			mark = "~"
		}
		var times []string
		for _, name := range names {
			times = append(times, fmt.Sprintf("%s %s%.3f", name, mark, p.Seconds[name]*1e3))
		}
		fmt.Printf("%-7s %4d  %-6s  %s\n", p.Weights, p.Rows, p.Path, strings.Join(times, ", "))
	}
	return err
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes, 0 if unknown.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb * 1024
		}
	}
	return 0
}
