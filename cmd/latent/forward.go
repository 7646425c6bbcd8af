package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/latentlab/latent/model"
	"github.com/spf13/cobra"
)

func init() {
	var (
		dir, ids  string
		steps     int
		initScale float64
		seed      uint64
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "forward",
		Short: "Run one forward pass and print logits and latents per position",
		Example: `  latent forward --model testdata/fixtures/huginn-tiny --ids 1,357,109 --steps 4
  latent forward --model ~/models/huginn-0125-bf16 --ids 65504,9707 --steps 32 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tokens, err := parseIDs(ids)
			if err != nil {
				return err
			}
			m, err := model.Load(dir)
			if err != nil {
				return err
			}
			defer m.Close()
			out, err := m.Forward(tokens, model.ForwardOptions{Steps: steps, InitScale: initScale, Seed: seed})
			if err != nil {
				return err
			}
			return printForward(m, tokens, out, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder (config.json + safetensors)")
	f.StringVar(&ids, "ids", "", "comma-separated token ids")
	stepsVar(f, &steps, "steps", 0, "recurrence steps r (default: the config's mean_recurrence)")
	f.Float64Var(&initScale, "init-scale", 0, "scale of the random initial state (0: zeros)")
	f.Uint64Var(&seed, "seed", 0, "seed of the initial state")
	f.BoolVar(&asJSON, "json", false, `print {"logits": [[...]], "latents": [[...]]}`)
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("ids")
	rootCmd.AddCommand(cmd)
}

func rows(v []float32, n int) [][]float32 {
	out := make([][]float32, len(v)/n)
	for i := range out {
		out[i] = v[i*n : (i+1)*n]
	}
	return out
}

func printForward(m *model.Model, ids []int, out *model.Output, asJSON bool) error {
	V, h := m.Config.PaddedVocabSize, m.Config.NEmbd
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string][][]float32{
			"logits": rows(out.Logits, V), "latents": rows(out.Latents, h),
		})
	}
	top := model.Argmax(out.Logits, V)
	for i, id := range ids {
		fmt.Printf("position %d  token %d  → argmax %d (logit %.4f)\n", i, id, top[i], out.Logits[i*V+top[i]])
	}
	return nil
}
