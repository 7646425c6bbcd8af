package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The file names of a Hugging Face model folder.
const (
	IndexFileName  = "model.safetensors.index.json"
	SingleFileName = "model.safetensors"
)

// Checkpoint is a model's tensors spread over one or more open safetensors files. Its methods
// may be called concurrently, except Close.
type Checkpoint struct {
	files   []*File
	tensors map[string]Tensor
	names   []string
}

// OpenCheckpoint opens a model folder — its model.safetensors.index.json (sharded) or else its
// model.safetensors — or a path to one .safetensors file or one *.index.json file.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(path, ".index.json") {
			return openIndexed(path)
		}
		return openSingle(path)
	}
	for _, name := range []string{IndexFileName, SingleFileName} {
		p := filepath.Join(path, name)
		_, err := os.Stat(p)
		switch {
		case err == nil && name == IndexFileName:
			return openIndexed(p)
		case err == nil:
			return openSingle(p)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("safetensors: %w", err)
		}
	}
	return nil, fmt.Errorf("safetensors: folder %s holds neither %s nor %s", path, IndexFileName, SingleFileName)
}

func openSingle(path string) (*Checkpoint, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	return singleFile(f), nil
}

// CheckpointFromBytes views the bytes of one safetensors file already in memory (such as an
// embedded model) as a checkpoint, without copying them and without touching the file system;
// name is the file's name in messages.
func CheckpointFromBytes(name string, data []byte) (*Checkpoint, error) {
	f, err := newFile(name, data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", name, err)
	}
	return singleFile(f), nil
}

// singleFile is the checkpoint of one open file.
func singleFile(f *File) *Checkpoint {
	c := &Checkpoint{files: []*File{f}, tensors: map[string]Tensor{}}
	for _, t := range f.tensors {
		c.tensors[t.Name] = t
	}
	c.names = sortedKeys(c.tensors)
	return c
}

// openIndexed opens the shards an index names and checks that every listed tensor is in the
// shard the index names and in no other.
func openIndexed(indexPath string) (*Checkpoint, error) {
	weightMap, err := readIndex(indexPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors: index %s: %w", indexPath, err)
	}
	c := &Checkpoint{tensors: make(map[string]Tensor, len(weightMap))}
	if err := c.openShards(indexPath, weightMap); err != nil {
		c.Close()
		return nil, err
	}
	c.names = sortedKeys(c.tensors)
	return c, nil
}

func (c *Checkpoint) openShards(indexPath string, weightMap map[string]string) error {
	dir := filepath.Dir(indexPath)
	shards := map[string]*File{}
	owner := map[string]string{} // tensor name → shard holding it
	for _, shard := range sortedValues(weightMap) {
		f, err := Open(filepath.Join(dir, shard))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("safetensors: index %s: shard file %s is missing", indexPath, filepath.Join(dir, shard))
		}
		if err != nil {
			return err
		}
		c.files = append(c.files, f)
		shards[shard] = f
		for _, t := range f.tensors {
			if other, dup := owner[t.Name]; dup {
				return fmt.Errorf("safetensors: index %s: tensor %q is in two shards, %s and %s", indexPath, t.Name, other, shard)
			}
			owner[t.Name] = shard
		}
	}
	for _, name := range sortedKeys(weightMap) {
		shard := weightMap[name]
		t, ok := shards[shard].Tensor(name)
		if !ok {
			return fmt.Errorf("safetensors: index %s: tensor %q is listed in shard %s, which does not hold it", indexPath, name, shard)
		}
		c.tensors[name] = t
	}
	return nil
}

// readIndex reads the weight_map of an index file and checks that every shard name stays in
// the index's folder. A tensor listed twice is an error.
func readIndex(path string) (map[string]string, error) {
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var weightMap map[string]string
	err = walkObject(js, "index", func(key string, value json.RawMessage) error {
		if key != "weight_map" {
			return nil // "metadata" and anything else are informative only
		}
		weightMap = map[string]string{}
		return walkObject(value, "weight_map", func(name string, value json.RawMessage) error {
			var shard string
			if err := json.Unmarshal(value, &shard); err != nil {
				return fmt.Errorf("weight_map: tensor %q: shard must be a file name string, found %s", name, value)
			}
			if !filepath.IsLocal(shard) {
				return fmt.Errorf("weight_map: tensor %q: shard %q is not a file inside the index's folder", name, shard)
			}
			weightMap[name] = shard
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if weightMap == nil {
		return nil, errors.New(`no "weight_map" object`)
	}
	return weightMap, nil
}

func sortedValues(m map[string]string) []string {
	return slices.Compact(slices.Sorted(maps.Values(m)))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Tensor returns the tensor called name.
func (c *Checkpoint) Tensor(name string) (Tensor, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Names lists the checkpoint's tensor names, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Files lists the paths of the checkpoint's files, sorted.
func (c *Checkpoint) Files() []string {
	out := make([]string, len(c.files))
	for i, f := range c.files {
		out[i] = f.path
	}
	return out
}

// Close unmaps every file; the Data of its tensors must not be used afterwards. Closing twice
// is safe.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.tensors, c.names = nil, nil
	return errors.Join(errs...)
}
