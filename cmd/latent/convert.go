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
			if dtype != "bf16" && dtype != "q8_0" {
				return fmt.Errorf("--dtype %q: only bf16 and q8_0 are supported", dtype)
			}
			cfg, err := model.LoadConfig(in)
			if err != nil {
				return err
			}
			bar := progressbar.DefaultBytes(cfg.ParameterCount()*2, "converting to "+dtype) // q8_0 writes less: the bar stops short
			start := time.Now()
			err = model.ConvertToBF16(in, out, model.ConvertOptions{Shards: shards, DType: dtype, Progress: func(n int) { bar.Add(n) }})
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Printf("\nwrote %s (%s weights) in %.1fs\n", out, dtype, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "input model folder (fp32 safetensors, sharded or not)")
	f.StringVar(&out, "out", "", "output folder (must not exist)")
	f.StringVar(&dtype, "dtype", "bf16", "output dtype: bf16, or q8_0 (the blocks' and adapter's Linear weights as llama.cpp's Q8_0, the rest bf16)")
	f.IntVar(&shards, "shards", 1, "output shard count")
	cmd.MarkFlagRequired("in")
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}
