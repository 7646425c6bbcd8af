package safetensors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// WriteTensor is one tensor to write. Its bytes come either from Data or, streamed, from Fill,
// which must write exactly the tensor's byte size (elements × dtype size) to w.
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte                  // either Data ...
	Fill  func(w io.Writer) error // ... or a streaming producer of the little-endian bytes
}

// writeBufferSize is the buffer between producers and the file: large enough that a streamed
// multi-gigabyte tensor goes out in few system calls, small enough to never matter for memory.
const writeBufferSize = 8 << 20

// WriteFile writes tensors (stored sorted by name) and metadata to one safetensors file,
// atomically: through a temporary file in the same folder, fsync and rename, so a failure
// leaves neither a partial file at path nor the temporary file.
func WriteFile(path string, tensors []WriteTensor, metadata map[string]string) error {
	return WriteFileContext(context.Background(), path, tensors, metadata)
}

// WriteFileContext is WriteFile stopped by ctx: once ctx is done the next write fails with
// ctx's error and the temporary file is removed.
func WriteFileContext(ctx context.Context, path string, tensors []WriteTensor, metadata map[string]string) error {
	sizes, err := byteSizes(tensors)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return writeFile(ctx, path, tensors, sizes, metadata)
}

// WriteSharded writes tensors into dir split into shards files of about equal byte size,
// keeping the given tensor order across shards: model-0000i-of-0000N.safetensors plus
// model.safetensors.index.json, written last. With shards == 1 it writes model.safetensors and
// removes a stale index. Each shard carries metadata. On failure the shards already written by
// this call are removed and no index is written.
func WriteSharded(dir string, tensors []WriteTensor, shards int, metadata map[string]string) error {
	return WriteShardedContext(context.Background(), dir, tensors, shards, metadata)
}

// WriteShardedContext is WriteSharded stopped by ctx: once ctx is done the next write fails
// with ctx's error, and the shards and temporary files written so far are removed.
func WriteShardedContext(ctx context.Context, dir string, tensors []WriteTensor, shards int, metadata map[string]string) error {
	sizes, err := byteSizes(tensors)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", dir, err)
	}
	switch {
	case shards < 1 || shards > 99999:
		return fmt.Errorf("safetensors: write %s: shard count %d is not in [1, 99999]", dir, shards)
	case shards > 1 && len(tensors) < shards:
		return fmt.Errorf("safetensors: write %s: cannot split %d tensors into %d shards", dir, len(tensors), shards)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if shards == 1 {
		if err := writeFile(ctx, filepath.Join(dir, SingleFileName), tensors, sizes, metadata); err != nil {
			return err
		}
		return removeIfPresent(filepath.Join(dir, IndexFileName))
	}
	var written []string
	err = writeShards(ctx, dir, tensors, sizes, shards, metadata, func(path string) { written = append(written, path) })
	if err != nil {
		for _, path := range written {
			os.Remove(path)
		}
	}
	return err
}

// writeShards writes the shard files, reporting each one done, and then the index.
func writeShards(ctx context.Context, dir string, tensors []WriteTensor, sizes []int64, shards int, metadata map[string]string, done func(string)) error {
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": 0}, map[string]string{}}
	for i, r := range splitBySize(sizes, shards) {
		shard := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, shards)
		path := filepath.Join(dir, shard)
		if err := writeFile(ctx, path, tensors[r[0]:r[1]], sizes[r[0]:r[1]], metadata); err != nil {
			return err
		}
		done(path)
		for j := r[0]; j < r[1]; j++ {
			index.WeightMap[tensors[j].Name] = shard
			index.Metadata["total_size"] += sizes[j]
		}
	}
	js, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return fmt.Errorf("safetensors: write index in %s: %w", dir, err)
	}
	return writeAtomic(ctx, filepath.Join(dir, IndexFileName), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

// splitBySize cuts sizes, in order, into shards non-empty [begin, end) ranges of about equal
// total: a tensor joins the current shard when its middle byte lies before that shard's share
// of the total. It needs len(sizes) >= shards.
func splitBySize(sizes []int64, shards int) [][2]int {
	var total int64
	for _, s := range sizes {
		total += s
	}
	ranges := make([][2]int, 0, shards)
	begin, cum := 0, int64(0)
	for s := 1; s < shards; s++ {
		hi, lo := bits.Mul64(uint64(total), uint64(s))
		target, _ := bits.Div64(hi, lo, uint64(shards)) // total·s/shards without overflow
		end := begin + 1
		cum += sizes[begin]
		last := len(sizes) - (shards - s) // leave one tensor for each later shard
		for end < last && uint64(cum+sizes[end]/2) <= target {
			cum += sizes[end]
			end++
		}
		ranges = append(ranges, [2]int{begin, end})
		begin = end
	}
	return append(ranges, [2]int{begin, len(sizes)})
}

// byteSizes validates the tensors and returns each one's byte size.
func byteSizes(tensors []WriteTensor) ([]int64, error) {
	sizes := make([]int64, len(tensors))
	seen := map[string]bool{}
	var total int64
	for i, t := range tensors {
		size, err := t.byteSize()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %q: listed twice", t.Name)
		}
		seen[t.Name] = true
		if total > math.MaxInt64-size {
			return nil, fmt.Errorf("tensor %q: total size overflows", t.Name)
		}
		total += size
		sizes[i] = size
	}
	return sizes, nil
}

func (t WriteTensor) byteSize() (int64, error) {
	switch {
	case t.Name == "" || t.Name == metadataKey:
		return 0, fmt.Errorf("name %q is not allowed", t.Name)
	case !t.DType.Known():
		return 0, fmt.Errorf("unknown dtype %q", t.DType)
	}
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	elems, err := checkShape(shape, int64(t.DType.Size()))
	if err != nil {
		return 0, err
	}
	size := elems * int64(t.DType.Size())
	switch {
	case t.Fill != nil && t.Data != nil:
		return 0, errors.New("both Data and Fill are set")
	case t.Fill == nil && int64(len(t.Data)) != size:
		return 0, fmt.Errorf("Data holds %d bytes, but %d %s elements of shape %v need %d", len(t.Data), elems, t.DType, t.Shape, size)
	}
	return size, nil
}

// writeFile writes one file of already validated tensors.
func writeFile(ctx context.Context, path string, tensors []WriteTensor, sizes []int64, metadata map[string]string) error {
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return tensors[order[a]].Name < tensors[order[b]].Name })
	header, err := encodeHeader(tensors, sizes, order, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return writeAtomic(ctx, path, func(w io.Writer) error {
		if err := binary.Write(w, binary.LittleEndian, uint64(len(header))); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, i := range order {
			if err := writeTensor(w, tensors[i], sizes[i]); err != nil {
				return fmt.Errorf("tensor %q: %w", tensors[i].Name, err)
			}
		}
		return nil
	})
}

// encodeHeader builds the JSON header for tensors stored in order, padded with spaces to a
// multiple of 8 bytes so that the data section starts aligned.
func encodeHeader(tensors []WriteTensor, sizes []int64, order []int, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		js, err := json.Marshal(metadata)
		if err != nil {
			return nil, err
		}
		b.WriteString(`"` + metadataKey + `":`)
		b.Write(js)
	}
	var offset int64
	for _, i := range order {
		t := tensors[i]
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(t.Name)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		fmt.Fprintf(&b, `:{"dtype":%q,"shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, offset+sizes[i])
		offset += sizes[i]
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > maxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", b.Len(), maxHeaderSize)
	}
	return b.Bytes(), nil
}

// writeTensor writes a tensor's Data, or streams its Fill through a writer that refuses more
// than size bytes and checks that exactly size arrived.
func writeTensor(w io.Writer, t WriteTensor, size int64) error {
	if t.Fill == nil {
		_, err := w.Write(t.Data)
		return err
	}
	lw := &exactWriter{w: w, left: size}
	if err := t.Fill(lw); err != nil {
		return err
	}
	if lw.left != 0 {
		return fmt.Errorf("Fill wrote %d bytes, want %d", size-lw.left, size)
	}
	return nil
}

// exactWriter passes at most left more bytes on to w.
type exactWriter struct {
	w    io.Writer
	left int64
}

func (e *exactWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > e.left {
		return 0, fmt.Errorf("Fill wrote more than the tensor's size (%d bytes too many)", int64(len(p))-e.left)
	}
	n, err := e.w.Write(p)
	e.left -= int64(n)
	return n, err
}

// writeAtomic writes path through a buffered temporary file in the same folder, then fsyncs and
// renames it. On any failure (a panic or ctx's end included) the temporary file is removed.
func writeAtomic(ctx context.Context, path string, produce func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, writeBufferSize)
	if err := produce(ctxWriter{ctx, bw}); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	for _, step := range []func() error{bw.Flush, func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close} {
		if err := step(); err != nil {
			return fmt.Errorf("safetensors: write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	renamed = true
	syncDir(dir)
	return nil
}

// ctxWriter fails every write once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// syncDir makes a rename in dir durable where the system supports fsync on folders; it is
// best effort because some file systems refuse it and the file itself is already complete.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func removeIfPresent(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("safetensors: remove stale %s: %w", path, err)
	}
	return nil
}
