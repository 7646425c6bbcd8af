package safetensors_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "ckpt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ramp := make([]float32, 6)
	for i := range ramp {
		ramp[i] = float32(i) / 2
	}
	tensors := []safetensors.WriteTensor{
		{Name: "w", DType: safetensors.F32, Shape: []int{2, 3}, Data: safetensors.Float32Bytes(ramp)},
		{Name: "b", DType: safetensors.F32, Shape: []int{3}, Fill: func(w io.Writer) error {
			_, err := w.Write(safetensors.Float32Bytes([]float32{7, 8, 9})) // streamed, e.g. from a generator
			return err
		}},
	}
	if err := safetensors.WriteSharded(dir, tensors, 2, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer ckpt.Close()
	for _, name := range ckpt.Names() {
		t, _ := ckpt.Tensor(name)
		values, err := t.ToFloat32()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, t.DType, t.Shape, values, filepath.Base(t.File))
	}
	// Output:
	// b F32 [3] [7 8 9] model-00002-of-00002.safetensors
	// w F32 [2 3] [0 0.5 1 1.5 2 2.5] model-00001-of-00002.safetensors
}
