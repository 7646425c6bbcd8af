package safetensors

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shardFolder writes shards (file name → tensor names, each a U8 tensor holding its name) and
// an index into a fresh folder.
func shardFolder(t *testing.T, shards map[string][]string, index string) string {
	t.Helper()
	dir := t.TempDir()
	for file, names := range shards {
		var tensors []WriteTensor
		for _, n := range names {
			tensors = append(tensors, WriteTensor{Name: n, DType: U8, Shape: []int{len(n)}, Data: []byte(n)})
		}
		if err := WriteFile(filepath.Join(dir, file), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckpointIndex(t *testing.T) {
	shards := map[string][]string{"s1.safetensors": {"a", "b"}, "s2.safetensors": {"c", "extra"}}
	dir := shardFolder(t, shards, `{"metadata":{"total_size":3},"weight_map":{"c":"s2.safetensors","a":"s1.safetensors","b":"s1.safetensors"}}`)
	for _, path := range []string{dir, filepath.Join(dir, IndexFileName)} {
		c, err := OpenCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if names := c.Names(); !slices.Equal(names, []string{"a", "b", "c"}) {
			t.Errorf("names = %v, want [a b c] (unlisted shard tensors ignored)", names)
		}
		want := []string{filepath.Join(dir, "s1.safetensors"), filepath.Join(dir, "s2.safetensors")}
		if files := c.Files(); !slices.Equal(files, want) {
			t.Errorf("files = %v, want %v", files, want)
		}
		if tt, ok := c.Tensor("c"); !ok || string(tt.Data) != "c" || tt.File != want[1] {
			t.Errorf("tensor c = %+v", tt)
		}
		if _, ok := c.Tensor("extra"); ok {
			t.Error("a tensor absent from the weight map was returned")
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

func TestCheckpointIndexErrors(t *testing.T) {
	two := map[string][]string{"s1.safetensors": {"a"}, "s2.safetensors": {"b"}}
	cases := []struct {
		name   string
		shards map[string][]string
		index  string
		want   string
	}{
		{"missing shard", two, `{"weight_map":{"a":"s1.safetensors","b":"s3.safetensors"}}`, "s3.safetensors is missing"},
		{"tensor absent from its shard", two, `{"weight_map":{"a":"s2.safetensors"}}`, `tensor "a" is listed in shard s2.safetensors, which does not hold it`},
		{"parent traversal", two, `{"weight_map":{"a":"../s1.safetensors"}}`, `shard "../s1.safetensors" is not a file inside the index's folder`},
		{"nested traversal", two, `{"weight_map":{"a":"x/../../s1.safetensors"}}`, "is not a file inside"},
		{"absolute shard", two, `{"weight_map":{"a":"/etc/passwd"}}`, "is not a file inside"},
		{"empty shard name", two, `{"weight_map":{"a":""}}`, "is not a file inside"},
		{"shard not a string", two, `{"weight_map":{"a":1}}`, `tensor "a": shard must be a file name string`},
		{"tensor in two shards", map[string][]string{"s1.safetensors": {"a"}, "s2.safetensors": {"a", "b"}},
			`{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`, `tensor "a" is in two shards, s1.safetensors and s2.safetensors`},
		{"tensor listed twice", two, `{"weight_map":{"a":"s1.safetensors","a":"s2.safetensors"}}`, `weight_map: duplicate key "a"`},
		{"no weight map", two, `{"metadata":{}}`, `no "weight_map" object`},
		{"weight map not an object", two, `{"weight_map":[]}`, "weight_map: expected a JSON object"},
		{"malformed index", two, `{"weight_map":{`, "malformed JSON"},
		{"shard is a folder", two, `{"weight_map":{"a":"."}}`, "is not a regular file"},
		{"bad shard", map[string][]string{"s1.safetensors": {"a"}}, `{"weight_map":{"a":"s1.safetensors","b":"index.bad"}}`, "too short"},
	}
	for _, c := range cases {
		dir := shardFolder(t, c.shards, c.index)
		os.WriteFile(filepath.Join(dir, "index.bad"), []byte("xx"), 0o644)
		ckpt, err := OpenCheckpoint(dir)
		if err == nil {
			ckpt.Close()
			t.Errorf("%s: opened, want error %q", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %q, want one naming %s and containing %q", c.name, err, dir, c.want)
		}
	}
}

func TestOpenCheckpointPaths(t *testing.T) {
	empty := t.TempDir()
	if _, err := OpenCheckpoint(empty); err == nil || !strings.Contains(err.Error(), "holds neither") {
		t.Errorf("empty folder: error %v", err)
	}
	if _, err := OpenCheckpoint(filepath.Join(empty, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("absent path: error %v", err)
	}
	path := filepath.Join(empty, "weights.safetensors")
	if err := WriteFile(path, []WriteTensor{{Name: "w", DType: U8, Shape: []int{1}, Data: []byte{9}}}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tt, ok := c.Tensor("w"); !ok || tt.Data[0] != 9 || !slices.Equal(c.Files(), []string{path}) {
		t.Errorf("single file checkpoint: %+v, files %v", tt, c.Files())
	}
}
