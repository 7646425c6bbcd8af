package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
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
		asJSON                 bool
		showKernels, refresh   bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed against the memory bandwidth measured in the same run",
		Example: `  latent bench --model ~/models/huginn-0125-bf16 --steps 32 --tokens 8
  latent bench --model testdata/fixtures/huginn-tiny --json
  latent bench --kernels --refresh`,
		Long: "Measure prefill and decode speed against the memory bandwidth measured in the same run.\n" +
			"With --kernels, print which kernel path each product with 1–16 rows takes on this CPU and the\n" +
			"timings that chose it (--refresh measures them again and rewrites the cache).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showKernels || refresh {
				return printKernels(cmd.OutOrStdout(), refresh, asJSON)
			}
			if dir == "" {
				return fmt.Errorf(`required flag(s) "model" not set`)
			}
			if steps < 1 || prefill < 1 || decode < 1 {
				return fmt.Errorf("--steps, --prefill and --tokens must be positive")
			}
			rep, err := runBench(dir, steps, prefill, decode, strategy)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			rep.print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder")
	stepsVar(f, &steps, "steps", 32, "recurrence steps r")
	f.IntVar(&prefill, "prefill", 64, "prompt length for the prefill measurement")
	f.IntVar(&decode, "tokens", 4, "tokens to decode")
	f.StringVar(&strategy, "cache", "full", "KV cache lookup strategy")
	f.BoolVar(&asJSON, "json", false, `print the measures as one JSON object (seconds, bytes, GB/s; with --kernels the choice)`)
	f.BoolVar(&showKernels, "kernels", false, "print the kernel paths chosen on this CPU and why (no --model needed)")
	f.BoolVar(&refresh, "refresh", false, "with --kernels: measure the kernel paths again and rewrite the cache")
	rootCmd.AddCommand(cmd)
}

// benchReport is what bench measures.
type benchReport struct {
	Model          string  `json:"model"`
	LoadSeconds    float64 `json:"load_seconds"`
	WeightBytes    int64   `json:"weight_bytes"`
	Steps          int     `json:"steps"`
	PrefillTokens  int     `json:"prefill_tokens"`
	PrefillSeconds float64 `json:"prefill_seconds"`
	DecodeTokens   int     `json:"decode_tokens"`
	DecodeSeconds  float64 `json:"decode_seconds_per_token"`
	DecodeBytes    int64   `json:"decode_weight_bytes_per_token"`
	BandwidthGBps  float64 `json:"bandwidth_gb_per_s"` // memory read bandwidth measured in the run
	BoundSeconds   float64 `json:"bound_seconds_per_token"`
	PeakRSSBytes   float64 `json:"peak_rss_bytes"`
	CacheBytes     int64   `json:"kv_cache_bytes"`
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "loaded %s in %.2fs (%.2f GB of weights)\n", r.Model, r.LoadSeconds, float64(r.WeightBytes)/1e9)
	fmt.Fprintf(w, "prefill  %d tokens × r=%d: %.2fs, %.2f tokens/s\n", r.PrefillTokens, r.Steps, r.PrefillSeconds, float64(r.PrefillTokens)/r.PrefillSeconds)
	dec := r.DecodeSeconds
	fmt.Fprintf(w, "decode   %d tokens × r=%d: %.3fs/token, %.3f tokens/s, %.2f GB of weights per token\n", r.DecodeTokens, r.Steps, dec, 1/dec, float64(r.DecodeBytes)/1e9)
	fmt.Fprintf(w, "         effective %.1f GB/s of weights; memory read bandwidth measured now %.1f GB/s\n", float64(r.DecodeBytes)/dec/1e9, r.BandwidthGBps)
	fmt.Fprintf(w, "         time per token / bandwidth bound (%.3fs) = %.2f×\n", r.BoundSeconds, dec/r.BoundSeconds)
	fmt.Fprintf(w, "memory   peak resident %.2f GB before the bandwidth measurement; weights %.2f GB + KV cache %.4f GB\n", r.PeakRSSBytes/1e9, float64(r.WeightBytes)/1e9, float64(r.CacheBytes)/1e9)
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

func runBench(dir string, steps, prefill, decode int, strategy string) (*benchReport, error) {
	start := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r := &benchReport{Model: dir, LoadSeconds: time.Since(start).Seconds(), WeightBytes: m.Weights.Bytes(), Steps: steps,
		PrefillTokens: prefill, DecodeTokens: decode}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, prefill)
	for i := range ids {
		ids[i] = rng.IntN(m.Config.VocabSize)
	}
	t0 := time.Now()
	if _, err := m.Forward(ids, model.ForwardOptions{Steps: steps}); err != nil {
		return nil, err
	}
	r.PrefillSeconds = time.Since(t0).Seconds()
	cache, err := model.NewCache(m.Config, strategy)
	if err != nil {
		return nil, err
	}
	if _, err := m.Forward(ids[:1], model.ForwardOptions{Steps: steps, Cache: cache}); err != nil {
		return nil, err
	}
	t1 := time.Now()
	for i := 0; i < decode; i++ {
		if _, err := m.Forward([]int{ids[(1+i)%prefill]}, model.ForwardOptions{Steps: steps, Cache: cache, Pos: 1 + i}); err != nil {
			return nil, err
		}
	}
	r.DecodeSeconds = time.Since(t1).Seconds() / float64(decode)
	r.DecodeBytes = decodeBytes(m.Weights, steps)
	// Read before the bandwidth measurement, whose own 1 GiB buffer is not the model's.
	r.PeakRSSBytes = peakRSS()
	r.BandwidthGBps = kernels.MeasureBandwidth(1 << 30)
	r.BoundSeconds = float64(r.DecodeBytes) / (r.BandwidthGBps * 1e9)
	r.CacheBytes = cache.Bytes()
	return r, nil
}

// packedLine names the packed GEMM kernel chosen and the time of each candidate measured
// (seconds), or says that there was no other to measure.
func packedLine(chosen string, seconds map[string]float64) string {
	if len(seconds) == 0 {
		return chosen + " (the only packed GEMM kernel here: nothing to measure)"
	}
	var packed []string
	for name, sec := range seconds {
		packed = append(packed, fmt.Sprintf("%s %.3f", name, sec*1e3))
	}
	slices.Sort(packed)
	return fmt.Sprintf("%s (ms on the measured shapes: %s)", chosen, strings.Join(packed, ", "))
}

// scoreLine lists each path's score for the weight type (its time over the fastest path's,
// averaged over the measured row counts), least first, and the path chosen.
func scoreLine(c *kernels.RowChoice, weights string) string {
	scores := c.OneRowScores(weights)
	names := make([]string, 0, len(scores))
	for name := range scores {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(scores[a], scores[b]) })
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.2f", name, scores[name])
	}
	chosen := ""
	for _, p := range c.Products {
		if p.Weights == weights && p.Rows == 1 {
			chosen = p.Path
		}
	}
	return fmt.Sprintf("%s: %s", chosen, strings.Join(parts, ", "))
}

// printKernels prints the kernel implementation in use and, for products with 1–16 rows of
// bf16 and fp32 weights, the path chosen and the time of each path compared.
func printKernels(w io.Writer, refresh, asJSON bool) error {
	c, err := kernels.RowPaths(refresh)
	if asJSON {
		out := map[string]any{"backend": kernels.Backend(), "row_paths": c}
		if c != nil {
			out["one_row_scores"] = map[string]any{"bf16": c.OneRowScores("bf16"), "f32": c.OneRowScores("f32")}
		}
		if jerr := writeJSON(w, out); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(w, "kernels  %s\n", kernels.Backend())
	if c == nil {
		fmt.Fprintln(w, "no assembly kernels: every product runs the portable Go code")
		return err
	}
	fmt.Fprintf(w, "cpu      %s, %s kernels, %d workers\n", c.CPU, c.ISA, c.Workers)
	fmt.Fprintf(w, "choice   %s; measured %s on %d×%d bf16 weights (%d MiB, fp32 the same bytes:\n"+
		"         beyond the caches, as decode products of real models)\n",
		c.Source, c.Measured.Format(time.RFC3339), c.Shape[0], c.Shape[1], c.Shape[0]*c.Shape[1]*2>>20)
	fmt.Fprintf(w, "packed   fp32 %s\n", packedLine(c.Packed, c.PackedSeconds))
	fmt.Fprintf(w, "         bf16 %s\n", packedLine(c.PackedBF16, c.PackedBF16Seconds))
	fmt.Fprintf(w, "rows     up to %d take the one-row path, the one whose time over the best averages least,\n"+
		"         so that each row is computed as alone (batched requests):\n", kernels.MaxRowwise)
	for _, weights := range []string{"bf16", "f32"} {
		fmt.Fprintf(w, "         %-4s %s\n", weights, scoreLine(c, weights))
	}
	fmt.Fprintln(w, "weights rows  chosen  ms per product (measured, or ~interpolated)")
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
		fmt.Fprintf(w, "%-7s %4d  %-6s  %s\n", p.Weights, p.Rows, p.Path, strings.Join(times, ", "))
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
