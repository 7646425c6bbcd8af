package main

import (
	"fmt"
	"time"

	"github.com/latentlab/latent/model"
	"github.com/spf13/cobra"
)

func init() {
	var (
		config, out, dtype string
		shards             int
		seed               uint64
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a random checkpoint of any shape with the reference's initialisation",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cfg, err := model.BuiltinConfig(config)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := model.WriteRandomCheckpoint(cfg, out, model.InitOptions{DType: dtype, Shards: shards, Seed: seed}); err != nil {
				return err
			}
			fmt.Printf("wrote %s: %d parameters, %s, %d shard(s) in %.1fs\n", out, cfg.ParameterCount(), dtype, shards, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "tiny", "config.json path or a built-in name: huginn-0125, tiny")
	f.StringVar(&out, "out", "", "output folder")
	f.StringVar(&dtype, "dtype", "fp32", "weight dtype: fp32 or bf16")
	f.IntVar(&shards, "shards", 1, "number of safetensors shards")
	f.Uint64Var(&seed, "seed", 0, "random seed")
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}
