package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// chunkedFill streams data in pieces of at most chunk bytes, as a producer of a large tensor
// would; it can be called again.
func chunkedFill(data []byte, chunk int) func(io.Writer) error {
	return func(w io.Writer) error {
		for rest := data; len(rest) > 0; {
			n := min(chunk, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	f32 := []float32{1, -2.5, 3.25e-8, 65504, 0, -0.125}
	bf := []uint16{roundBF16(1), roundBF16(-2.5), roundBF16(3.1415927), 0x7f80}
	f16 := []uint16{0x3c00, 0xc100, 0x0001, 0x7bff} // 1, -2.5, 2^-24, 65504
	ids := binary.LittleEndian.AppendUint64(nil, 1<<40)
	tensors := []WriteTensor{
		{Name: "w.f32", DType: F32, Shape: []int{2, 3}, Data: Float32Bytes(f32)},
		{Name: "a.bf16", DType: BF16, Shape: []int{4}, Data: BF16Bytes(bf)},
		{Name: "h.f16", DType: F16, Shape: []int{2, 2}, Fill: chunkedFill(BF16Bytes(f16), 3)},
		{Name: "ids", DType: I64, Shape: []int{}, Data: ids},
		{Name: "empty", DType: F32, Shape: []int{0, 4}},
		{Name: "streamed", DType: F32, Shape: []int{6}, Fill: chunkedFill(Float32Bytes(f32), 5)},
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	meta := map[string]string{"format": "pt", "note": `quotes " and <html>`}
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	raw := readFile(t, path)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata(); got["format"] != "pt" || got["note"] != meta["note"] || len(got) != 2 {
		t.Errorf("metadata = %v, want %v", got, meta)
	}
	var names []string
	for _, tt := range f.Tensors() {
		names = append(names, tt.Name)
	}
	if want := []string{"a.bf16", "empty", "h.f16", "ids", "streamed", "w.f32"}; !slices.Equal(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	checkTensor(t, f, "w.f32", F32, []int{2, 3}, f32)
	checkTensor(t, f, "streamed", F32, []int{6}, f32)
	checkTensor(t, f, "empty", F32, []int{0, 4}, []float32{})
	checkTensor(t, f, "h.f16", F16, []int{2, 2}, []float32{1, -2.5, 1.0 / (1 << 24), 65504})
	widened := make([]float32, len(bf))
	for i, b := range bf {
		widened[i] = bf16ToFloat32(b)
	}
	checkTensor(t, f, "a.bf16", BF16, []int{4}, widened)
	a, _ := f.Tensor("a.bf16")
	if got, err := a.BF16s(); err != nil || !slices.Equal(got, bf) {
		t.Errorf("BF16s = %v, %v; want %v", got, err, bf)
	}
	if id, _ := f.Tensor("ids"); !bytes.Equal(id.Data, ids) || id.DType != I64 || len(id.Shape) != 0 {
		t.Errorf("ids = %+v, want scalar I64 holding % x", id, ids)
	}
	// The stored layout is contiguous, sorted by name, starting at offset 0.
	next := 8 + int(binary.LittleEndian.Uint64(raw))
	for _, tt := range f.Tensors() {
		if !bytes.Equal(raw[next:next+len(tt.Data)], tt.Data) {
			t.Errorf("tensor %q is not stored contiguously in name order", tt.Name)
		}
		next += len(tt.Data)
	}
	if next != len(raw) {
		t.Errorf("file has %d bytes, tensors end at %d", len(raw), next)
	}
}

func checkTensor(t *testing.T, f *File, name string, dtype DType, shape []int, want []float32) {
	t.Helper()
	tt, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("tensor %q missing", name)
	}
	if tt.DType != dtype || !slices.Equal(tt.Shape, shape) || tt.File != f.Path() {
		t.Errorf("tensor %q: %s %v in %s, want %s %v in %s", name, tt.DType, tt.Shape, tt.File, dtype, shape, f.Path())
	}
	if got := mustFloat32s(t, tt); !slices.Equal(got, want) {
		t.Errorf("tensor %q = %v, want %v", name, got, want)
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	four := Float32Bytes([]float32{1})
	cases := []struct {
		name string
		t    WriteTensor
		want string
	}{
		{"empty name", WriteTensor{DType: F32, Shape: []int{1}, Data: four}, `name "" is not allowed`},
		{"reserved name", WriteTensor{Name: "__metadata__", DType: F32, Shape: []int{1}, Data: four}, "is not allowed"},
		{"unknown dtype", WriteTensor{Name: "a", DType: "F12", Shape: []int{1}, Data: four}, `unknown dtype "F12"`},
		{"negative dim", WriteTensor{Name: "a", DType: F32, Shape: []int{-1}}, "negative dimension"},
		{"data size", WriteTensor{Name: "a", DType: F32, Shape: []int{2}, Data: four}, "Data holds 4 bytes, but 2 F32 elements of shape [2] need 8"},
		{"both sources", WriteTensor{Name: "a", DType: F32, Shape: []int{1}, Data: four, Fill: chunkedFill(four, 4)}, "both Data and Fill"},
		{"short fill", WriteTensor{Name: "a", DType: F32, Shape: []int{2}, Fill: chunkedFill(four, 4)}, "Fill wrote 4 bytes, want 8"},
		{"long fill", WriteTensor{Name: "a", DType: F32, Shape: []int{1}, Fill: chunkedFill(append(four, four...), 3)}, "Fill wrote more than the tensor's size"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.safetensors")
		err := WriteFile(path, []WriteTensor{c.t}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", c.name, err, path, c.want)
		}
		if c.t.Name != "" && err != nil && !strings.Contains(err.Error(), `tensor "`+c.t.Name+`"`) {
			t.Errorf("%s: error %v does not name the tensor", c.name, err)
		}
		assertFolder(t, dir)
	}
	dup := []WriteTensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}, {Name: "a", DType: U8, Shape: []int{1}, Data: []byte{2}}}
	if err := WriteFile(filepath.Join(t.TempDir(), "x"), dup, nil); err == nil || !strings.Contains(err.Error(), `tensor "a": listed twice`) {
		t.Errorf("duplicate names: error %v", err)
	}
}

// assertFolder fails unless dir holds exactly the named entries (no leftover temporary files).
func assertFolder(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("folder %s holds %v, want %v", dir, got, want)
	}
}

// TestWriteIsAtomic makes a producer fail after more than a buffer's worth of bytes reached
// the temporary file: no target and no temporary file may remain, and an existing target
// must be left untouched. A panicking producer must not leave a temporary file either.
func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	boom := errors.New("disk on fire")
	failing := []WriteTensor{{Name: "big", DType: U8, Shape: []int{3 * writeBufferSize}, Fill: func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 2*writeBufferSize)); err != nil {
			return err
		}
		return boom
	}}}
	if err := WriteFile(path, failing, nil); !errors.Is(err, boom) {
		t.Fatalf("error %v, want it to wrap %v", err, boom)
	}
	assertFolder(t, dir)

	old := []WriteTensor{{Name: "old", DType: U8, Shape: []int{1}, Data: []byte{7}}}
	if err := WriteFile(path, old, nil); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	if err := WriteFile(path, failing, nil); err == nil {
		t.Fatal("failing write succeeded")
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("a failed write changed the existing target")
	}
	assertFolder(t, dir, "model.safetensors")

	func() {
		defer func() {
			if recover() == nil {
				t.Error("the producer's panic did not propagate")
			}
		}()
		WriteFile(filepath.Join(dir, "p.safetensors"), []WriteTensor{{Name: "p", DType: U8, Shape: []int{1},
			Fill: func(io.Writer) error { panic("producer bug") }}}, nil)
	}()
	assertFolder(t, dir, "model.safetensors")
}

// TestWriteStreamsWithoutHoldingData writes a 64 MiB tensor from a producer and checks that the
// writer allocated only its buffer, not the tensor.
func TestWriteStreamsWithoutHoldingData(t *testing.T) {
	const size = 64 << 20
	chunk := make([]byte, 1<<20)
	tensors := []WriteTensor{{Name: "big", DType: F32, Shape: []int{size / 4}, Fill: func(w io.Writer) error {
		for done := 0; done < size; done += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := WriteFile(filepath.Join(t.TempDir(), "big.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*writeBufferSize {
		t.Errorf("writing %d bytes allocated %d bytes; the writer must stream", size, alloc)
	}
}

// shardTensors are tensors of uneven sizes in a deliberately unsorted order.
func shardTensors() []WriteTensor {
	var out []WriteTensor
	for i, n := range []int{40, 3, 17, 64, 1, 29, 8, 50, 0, 12} {
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(i*100 + j)
		}
		name := string(rune('z'-i)) + ".weight"
		out = append(out, WriteTensor{Name: name, DType: F32, Shape: []int{n}, Fill: chunkedFill(Float32Bytes(v), 7)})
	}
	return out
}

func TestWriteShardedRoundTrip(t *testing.T) {
	for _, shards := range []int{1, 2, 4} {
		dir := t.TempDir()
		tensors := shardTensors()
		if err := WriteSharded(dir, tensors, shards, map[string]string{"format": "pt"}); err != nil {
			t.Fatalf("%d shards: %v", shards, err)
		}
		files := []string{SingleFileName}
		if shards > 1 {
			files = []string{IndexFileName}
			for i := 1; i <= shards; i++ {
				files = append(files, "model-0000"+string(rune('0'+i))+"-of-0000"+string(rune('0'+shards))+".safetensors")
			}
			checkIndex(t, dir, tensors, files[1:])
		}
		assertFolder(t, dir, files...)
		c, err := OpenCheckpoint(dir)
		if err != nil {
			t.Fatalf("%d shards: %v", shards, err)
		}
		if len(c.Files()) != shards || len(c.Names()) != len(tensors) {
			t.Errorf("%d shards: checkpoint has %d files, %d names", shards, len(c.Files()), len(c.Names()))
		}
		for _, wt := range tensors {
			var want bytes.Buffer
			wt.Fill(&want)
			got, ok := c.Tensor(wt.Name)
			if !ok || !bytes.Equal(got.Data, want.Bytes()) {
				t.Errorf("%d shards: tensor %q differs after the round trip", shards, wt.Name)
			}
			if f, _ := Open(got.File); f == nil || f.Metadata()["format"] != "pt" {
				t.Errorf("%d shards: file %s lacks the metadata", shards, got.File)
			} else {
				f.Close()
			}
		}
		c.Close()
	}
}

// checkIndex verifies the index of a sharded write: total_size, every tensor mapped, shard
// order following tensor order, and no empty shard.
func checkIndex(t *testing.T, dir string, tensors []WriteTensor, shardNames []string) {
	t.Helper()
	var index struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, IndexFileName)), &index); err != nil {
		t.Fatal(err)
	}
	var total int64
	shardOf := make([]int, len(tensors))
	used := map[int]bool{}
	for i, wt := range tensors {
		total += int64(wt.Shape[0] * 4)
		shardOf[i] = slices.Index(shardNames, index.WeightMap[wt.Name])
		used[shardOf[i]] = true
	}
	if index.Metadata.TotalSize != total || len(index.WeightMap) != len(tensors) {
		t.Errorf("index: total_size %d with %d entries, want %d with %d", index.Metadata.TotalSize, len(index.WeightMap), total, len(tensors))
	}
	if !slices.IsSorted(shardOf) || shardOf[0] != 0 || len(used) != len(shardNames) {
		t.Errorf("index: tensors in order land in shards %v, want a non-decreasing cover of 0..%d", shardOf, len(shardNames)-1)
	}
}

func TestSplitBySize(t *testing.T) {
	cases := []struct {
		sizes  []int64
		shards int
		want   [][2]int
	}{
		{[]int64{10, 10, 10, 10}, 2, [][2]int{{0, 2}, {2, 4}}},
		{[]int64{10, 10, 10, 10}, 4, [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}}},
		{[]int64{100, 1, 1, 1}, 2, [][2]int{{0, 1}, {1, 4}}},
		{[]int64{1, 1, 1, 100}, 2, [][2]int{{0, 3}, {3, 4}}},
		{[]int64{1, 1, 100}, 3, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{[]int64{0, 0, 5, 5}, 2, [][2]int{{0, 3}, {3, 4}}},
		{[]int64{7}, 1, [][2]int{{0, 1}}},
	}
	for _, c := range cases {
		if got := splitBySize(c.sizes, c.shards); !slices.Equal(got, c.want) {
			t.Errorf("splitBySize(%v, %d) = %v, want %v", c.sizes, c.shards, got, c.want)
		}
	}
}

// TestSplitHuginnShapes splits the fp32 tensors of Huginn-0125 into 4 shards: every cut must lie
// within half the largest tensor of its even share (the midpoint rule's guarantee).
func TestSplitHuginnShapes(t *testing.T) {
	const h, vocab, mlp = 5280, 65536, 17920
	sizes := []int64{4 * 4096 * 96, 4 * vocab * h, 4 * 2 * h * h}
	block := []int64{4 * 3 * h * h, 4 * 2 * 55 * 96, 4 * h * h, 4 * 2 * mlp * h, 4 * mlp * h, 4 * h, 4 * h, 4 * h, 4 * h}
	for range 8 {
		sizes = append(sizes, block...)
	}
	sizes = append(sizes, 4*h, 4*vocab*h)
	var total, largest int64
	for _, s := range sizes {
		total += s
		largest = max(largest, s)
	}
	if total != 15645600384 {
		t.Fatalf("Huginn-0125 tensors sum to %d bytes, want the index's total_size 15645600384", total)
	}
	ranges := splitBySize(sizes, 4)
	var cut int64
	for i, r := range ranges[:3] {
		for _, x := range sizes[r[0]:r[1]] {
			cut += x
		}
		if d := cut - total*int64(i+1)/4; d > largest/2 || d < -largest/2 {
			t.Errorf("cut %d at byte %d is %d from its even share (largest tensor %d)", i+1, cut, d, largest)
		}
	}
}

func TestWriteShardedFailures(t *testing.T) {
	dir := t.TempDir()
	tensors := shardTensors()
	tensors[7].Fill = func(io.Writer) error { return errors.New("producer failed") }
	if err := WriteSharded(dir, tensors, 4, nil); err == nil || !strings.Contains(err.Error(), "producer failed") {
		t.Fatalf("error %v, want the producer's", err)
	}
	assertFolder(t, dir)
	if err := WriteSharded(dir, shardTensors()[:3], 4, nil); err == nil || !strings.Contains(err.Error(), "cannot split 3 tensors into 4 shards") {
		t.Errorf("too few tensors: error %v", err)
	}
	if err := WriteSharded(dir, shardTensors(), 0, nil); err == nil || !strings.Contains(err.Error(), "shard count 0") {
		t.Errorf("zero shards: error %v", err)
	}
	// A single-file write replaces a sharded checkpoint's index, so the folder opens as the new file.
	if err := WriteSharded(dir, shardTensors(), 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSharded(dir, shardTensors()[:2], 1, nil); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if files := c.Files(); len(files) != 1 || filepath.Base(files[0]) != SingleFileName || len(c.Names()) != 2 {
		t.Errorf("after the single-file write the folder opens as %v with %v", files, c.Names())
	}
}
