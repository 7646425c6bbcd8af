package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "info DIR",
		Short: "Show a model's config, parameter count, memory and tensor table",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return showInfo(args[0]) },
	})
}

func showInfo(dir string) error {
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	fmt.Printf("model       %s\n", dir)
	fmt.Printf("shape       n_embd %d, %d heads × %d, MLP %d, vocab %d (padded %d), context %d\n",
		cfg.NEmbd, cfg.NHeads, cfg.HeadSize(), cfg.IntermediateSize, cfg.VocabSize, cfg.PaddedVocabSize, cfg.BlockSize)
	fmt.Printf("layers      prelude %d, recurrent core %d, coda %d; mean recurrence %d, backprop depth %d\n",
		cfg.NLayersPrelude, cfg.NLayersCore, cfg.NLayersCoda, cfg.MeanRecurrence, cfg.MeanBackpropDepth)
	fmt.Printf("parameters  %d (%.2f M)\n", cfg.ParameterCount(), float64(cfg.ParameterCount())/1e6)
	var fileBytes, paramBytes int64
	for _, name := range ckpt.Names() {
		t, _ := ckpt.Tensor(name)
		fileBytes += int64(len(t.Data))
	}
	for _, spec := range cfg.TensorSpecs() {
		if t, ok := ckpt.Tensor(spec.Name); ok {
			paramBytes += int64(len(t.Data))
		}
	}
	fmt.Printf("memory      %.3f GB of tensors in %d file(s); %.3f GB used by the engine\n",
		float64(fileBytes)/1e9, len(ckpt.Files()), float64(paramBytes)/1e9)
	checkErr := model.CheckTensors(cfg, ckpt)
	if checkErr != nil {
		fmt.Printf("check       FAILED:\n  %v\n", checkErr)
	} else {
		fmt.Printf("check       every tensor matches the config\n")
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTENSOR\tDTYPE\tSHAPE\tFILE")
	for _, name := range ckpt.Names() {
		t, _ := ckpt.Tensor(name)
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", name, t.DType, t.Shape, filepath.Base(t.File))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if checkErr != nil {
		return fmt.Errorf("info: %s: the checkpoint does not match its config (see the check above)", dir)
	}
	return nil
}
