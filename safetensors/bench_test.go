package safetensors

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

const benchBytes = 64 << 20

func benchChunk() []byte { return make([]byte, 1<<20) }

// BenchmarkWriteFile streams a 64 MiB tensor through WriteFile (buffer, fsync, rename).
func BenchmarkWriteFile(b *testing.B) {
	chunk := benchChunk()
	tensors := []WriteTensor{{Name: "big", DType: U8, Shape: []int{benchBytes}, Fill: func(w io.Writer) error {
		for done := 0; done < benchBytes; done += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}}}
	path := filepath.Join(b.TempDir(), "big.safetensors")
	b.SetBytes(benchBytes)
	for b.Loop() {
		if err := WriteFile(path, tensors, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteBaseline writes the same bytes with a plain buffered file and fsync: the floor
// WriteFile is measured against.
func BenchmarkWriteBaseline(b *testing.B) {
	chunk := benchChunk()
	path := filepath.Join(b.TempDir(), "big.bin")
	b.SetBytes(benchBytes)
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, writeBufferSize)
		for done := 0; done < benchBytes; done += len(chunk) {
			w.Write(chunk)
		}
		w.Flush()
		f.Sync()
		f.Close()
	}
}

// BenchmarkOpenFixture opens the huginn-tiny fp32 checkpoint and widens every tensor.
func BenchmarkOpenFixture(b *testing.B) {
	path := fixtures.Path(b, "huginn-tiny", "model.safetensors")
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range f.Tensors() {
			if _, err := t.ToFloat32(); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

// BenchmarkReadFixtureBaseline reads the same file into memory: the cost Open's mapping avoids.
func BenchmarkReadFixtureBaseline(b *testing.B) {
	path := fixtures.Path(b, "huginn-tiny", "model.safetensors")
	for b.Loop() {
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}
