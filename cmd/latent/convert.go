package main

import (
	"fmt"
	"os"
	"time"

	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/internal/progress"
	"github.com/latentlab/latent/model"
	"github.com/spf13/cobra"
)

func init() {
	var (
		in, out, dtype string
		shards         int
		force, asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert an fp32 checkpoint to bf16 (drops the duplicated lm_head and freqs_cis)",
		Example: `  latent convert --in ~/models/huginn-0125 --out ~/models/huginn-0125-bf16
  latent convert --in ~/models/huginn-0125 --out ~/models/huginn-0125-bf16 --shards 4 --force
  latent convert --in ~/models/huginn-0125 --out ~/models/huginn-0125-q8 --dtype q8_0`,
		Args:        cobra.NoArgs,
		Annotations: cancelOnSignal,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dtype != "bf16" && dtype != "q8_0" {
				return fmt.Errorf("--dtype %q: only bf16 and q8_0 are supported", dtype)
			}
			if shards < 1 {
				return fmt.Errorf("--shards %d must be at least 1", shards)
			}
			if err := outdir.Check("--out", out, force); err != nil {
				return err
			}
			cfg, err := model.LoadConfig(in)
			if err != nil {
				return err
			}
			var bar *progress.Bar
			report := func(written, total int64) {
				if bar == nil {
					bar = progress.New(os.Stderr, total, "converting to "+dtype, true)
				}
				bar.Set(written)
			}
			start := time.Now()
			err = model.ConvertToBF16(in, out, model.ConvertOptions{Shards: shards, DType: dtype, Progress: report,
				Force: force, Ctx: cmd.Context()})
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			rep, err := newWrittenReport(out, int64(cfg.ParameterCount()), dtype, shards, start)
			if err != nil {
				return err
			}
			return rep.print(cmd.OutOrStdout(), asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "input model folder (fp32 safetensors, sharded or not)")
	f.StringVar(&out, "out", "", "output folder (must be new or empty unless --force)")
	f.StringVar(&dtype, "dtype", "bf16", "output dtype: bf16, or q8_0 (the blocks' and adapter's Linear weights as llama.cpp's Q8_0, the rest bf16)")
	f.IntVar(&shards, "shards", 1, "output shard count")
	f.BoolVar(&force, "force", false, "replace a non-empty --out (only once the conversion is complete)")
	f.BoolVar(&asJSON, "json", false, `print {"out", "parameters", "dtype", "shards", "seconds"}`)
	cmd.MarkFlagRequired("in")
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}
