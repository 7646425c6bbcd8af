package main

import (
	"time"

	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/model"
	"github.com/spf13/cobra"
)

func init() {
	var (
		config, out, dtype string
		shards             int
		seed               uint64
		force, asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a random checkpoint of any shape with the reference's initialisation",
		Example: `  latent init --out /tmp/tiny
  latent init --config huginn-0125 --dtype bf16 --shards 4 --out /tmp/huginn-random
  latent init --config my-config.json --out /tmp/m --force --json`,
		Args:        cobra.NoArgs,
		Annotations: cancelOnSignal,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := outdir.Check("--out", out, force); err != nil {
				return err
			}
			cfg, err := model.BuiltinConfig(config)
			if err != nil {
				return err
			}
			start := time.Now()
			opt := model.InitOptions{DType: dtype, Shards: shards, Seed: seed, Force: force, Ctx: cmd.Context()}
			if err := model.WriteRandomCheckpoint(cfg, out, opt); err != nil {
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
	f.StringVar(&config, "config", "tiny", "config.json path or a built-in name: huginn-0125, tiny")
	f.StringVar(&out, "out", "", "output folder (must be new or empty unless --force)")
	f.StringVar(&dtype, "dtype", "fp32", "weight dtype: fp32 or bf16")
	f.IntVar(&shards, "shards", 1, "number of safetensors shards")
	f.Uint64Var(&seed, "seed", 0, "random seed")
	f.BoolVar(&force, "force", false, "replace a non-empty --out (only once the new checkpoint is complete)")
	f.BoolVar(&asJSON, "json", false, `print {"out", "parameters", "dtype", "shards", "seconds"}`)
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}
