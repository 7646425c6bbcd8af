package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
	"github.com/spf13/cobra"
)

func init() {
	var (
		asJSON bool
		dir    string
	)
	cmd := &cobra.Command{
		Use:   "info (--model DIR | DIR)",
		Short: "Show a model's config, parameter count, memory and tensor table",
		Long: `Info prints a model folder's shape, parameter count and memory, checks every tensor against
config.json (exiting with status 1 when the check fails) and lists the tensors.`,
		Example: `  latent info --model ~/models/huginn-0125
  latent info ~/models/huginn-0125
  latent info --json --model ~/models/huginn-0125 | jq .parameters`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && dir != "":
				return fmt.Errorf("give the model folder once: --model %s or %s", dir, args[0])
			case len(args) == 1:
				dir = args[0]
			case dir == "":
				return fmt.Errorf("info needs the model folder: --model DIR")
			}
			return showInfo(cmd.OutOrStdout(), dir, asJSON)
		},
	}
	cmd.Flags().StringVar(&dir, "model", "", "model folder (as on every command that takes a model; a bare DIR works too)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"model", "config", "parameters", "file_bytes", "engine_bytes", "files", "check", "tensors"}`)
	rootCmd.AddCommand(cmd)
}

// infoReport is what info prints.
type infoReport struct {
	Model       string        `json:"model"`
	Config      *model.Config `json:"config"`
	Parameters  int64         `json:"parameters"`
	FileBytes   int64         `json:"file_bytes"`   // all tensors in the files
	EngineBytes int64         `json:"engine_bytes"` // the tensors the engine uses
	Files       int           `json:"files"`
	Check       string        `json:"check"` // "ok", or what does not match the config
	Tensors     []infoTensor  `json:"tensors"`
}

type infoTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	File  string `json:"file"`
}

func showInfo(w io.Writer, dir string, asJSON bool) error {
	rep, err := inspect(dir)
	if err != nil {
		return err
	}
	if asJSON {
		err = writeJSON(w, rep)
	} else {
		err = printInfo(w, rep)
	}
	if err == nil && rep.Check != "ok" {
		err = fmt.Errorf("info: %s: the checkpoint does not match its config (see its check)", dir)
	}
	return err
}

// inspect reads the config and the tensors of dir and checks them.
func inspect(dir string) (*infoReport, error) {
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer ckpt.Close()
	rep := &infoReport{Model: dir, Config: cfg, Parameters: int64(cfg.ParameterCount()), Files: len(ckpt.Files()), Check: "ok"}
	for _, name := range ckpt.Names() {
		t, _ := ckpt.Tensor(name)
		rep.FileBytes += int64(len(t.Data))
		rep.Tensors = append(rep.Tensors, infoTensor{name, string(t.DType), t.Shape, filepath.Base(t.File)})
	}
	for _, spec := range cfg.TensorSpecs() {
		if t, ok := ckpt.Tensor(spec.Name); ok {
			rep.EngineBytes += int64(len(t.Data))
		}
	}
	if err := model.CheckTensors(cfg, ckpt); err != nil {
		rep.Check = err.Error()
	}
	return rep, nil
}

func printInfo(w io.Writer, rep *infoReport) error {
	cfg := rep.Config
	fmt.Fprintf(w, "model       %s\n", rep.Model)
	fmt.Fprintf(w, "shape       n_embd %d, %d heads × %d, MLP %d, vocab %d (padded %d), context %d\n",
		cfg.NEmbd, cfg.NHeads, cfg.HeadSize(), cfg.IntermediateSize, cfg.VocabSize, cfg.PaddedVocabSize, cfg.BlockSize)
	fmt.Fprintf(w, "layers      prelude %d, recurrent core %d, coda %d; mean recurrence %d, backprop depth %d\n",
		cfg.NLayersPrelude, cfg.NLayersCore, cfg.NLayersCoda, cfg.MeanRecurrence, cfg.MeanBackpropDepth)
	fmt.Fprintf(w, "parameters  %d (%.2f M)\n", rep.Parameters, float64(rep.Parameters)/1e6)
	fmt.Fprintf(w, "memory      %.3f GB of tensors in %d file(s); %.3f GB used by the engine\n",
		float64(rep.FileBytes)/1e9, rep.Files, float64(rep.EngineBytes)/1e9)
	if rep.Check != "ok" {
		fmt.Fprintf(w, "check       FAILED:\n  %v\n", rep.Check)
	} else {
		fmt.Fprintf(w, "check       every tensor matches the config\n")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTENSOR\tDTYPE\tSHAPE\tFILE")
	for _, t := range rep.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", t.Name, t.DType, t.Shape, t.File)
	}
	return tw.Flush()
}
