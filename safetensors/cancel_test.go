package safetensors

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

// TestWriteShardedStopsWhenCancelled cancels the context half-way through the second shard's
// tensor: the write must fail with the context's error and leave the folder empty (no shard, no
// temporary file, no index).
func TestWriteShardedStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	half := func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 512)); err != nil {
			return err
		}
		cancel() // as Ctrl-C would, while the tensor is being written
		_, err := w.Write(make([]byte, 512))
		return err
	}
	tensors := []WriteTensor{
		{Name: "a", DType: F32, Shape: []int{256}, Data: make([]byte, 1024)},
		{Name: "b", DType: F32, Shape: []int{256}, Fill: half},
	}
	err := WriteShardedContext(ctx, dir, tensors, 2, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled write left %v", entries)
	}
}
