package main

import (
	"fmt"
	"time"

	"github.com/latentlab/latent/model"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() {
	var (
		in, out, dtype string
		shards         int
	)
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert an fp32 checkpoint to bf16 (drops the duplicated lm_head and freqs_cis)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if dtype != "bf16" {
				return fmt.Errorf("--dtype %q: only bf16 is supported", dtype)
			}
			cfg, err := model.LoadConfig(in)
			if err != nil {
				return err
			}
			bar := progressbar.DefaultBytes(cfg.ParameterCount()*2, "converting to bf16")
			start := time.Now()
			err = model.ConvertToBF16(in, out, model.ConvertOptions{Shards: shards, Progress: func(n int) { bar.Add(n) }})
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Printf("\nwrote %s (%.2f GB of bf16 weights) in %.1fs\n", out, float64(cfg.ParameterCount()*2)/1e9, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "input model folder (fp32 safetensors, sharded or not)")
	f.StringVar(&out, "out", "", "output folder (must not exist)")
	f.StringVar(&dtype, "dtype", "bf16", "output dtype (bf16)")
	f.IntVar(&shards, "shards", 1, "output shard count")
	cmd.MarkFlagRequired("in")
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}
