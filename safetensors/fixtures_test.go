package safetensors

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

func openFixture(t *testing.T, name string) *File {
	t.Helper()
	f, err := Open(fixtures.Path(t, "huginn-tiny", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestHuginnTinyCheckpoint(t *testing.T) {
	f := openFixture(t, "model.safetensors")
	tensors := f.Tensors()
	if len(tensors) != 77 {
		t.Fatalf("%d tensors, want 77", len(tensors))
	}
	if !slices.IsSortedFunc(tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("Tensors() is not sorted by name")
	}
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata = %v, want format pt", f.Metadata())
	}
	for name, shape := range map[string][]int{
		"transformer.adapter.weight":                []int{64, 128},
		"freqs_cis":                                 []int{1, 256, 1, 8, 2},
		"transformer.wte.weight":                    []int{512, 64},
		"lm_head.weight":                            []int{512, 64},
		"transformer.ln_f.weight":                   []int{64},
		"transformer.core_block.3.attn.qk_bias":     []int{2, 1, 4, 16},
		"transformer.prelude.0.attn.Wqkv.weight":    []int{192, 64},
		"transformer.coda.1.mlp.fc.weight":          []int{320, 64},
		"transformer.core_block.0.mlp.proj.weight":  []int{64, 160},
		"transformer.prelude.1.norm_4.weight":       []int{64},
		"transformer.core_block.2.attn.proj.weight": []int{64, 64},
	} {
		tt, ok := f.Tensor(name)
		if !ok || tt.DType != F32 || !slices.Equal(tt.Shape, shape) {
			t.Errorf("tensor %q: found %v, %s %v; want F32 %v", name, ok, tt.DType, tt.Shape, shape)
		}
	}
	wte, _ := f.Tensor("transformer.wte.weight")
	head, _ := f.Tensor("lm_head.weight")
	if !bytes.Equal(wte.Data, head.Data) {
		t.Error("lm_head.weight is not the exact copy of transformer.wte.weight the README describes")
	}
}

// TestHuginnTinyRope checks the values read from freqs_cis against their definition
// [0,t,0,i,:] = (cos, sin)(t·f_i), f_i = 50000^(-2i/16). torch computed the angle in fp32: f_i
// and t·f_i are each within an ulp or two, so the angle is off by at most about 4·2⁻²⁴·t·f_i,
// and cos/sin add half an ulp of 1.
func TestHuginnTinyRope(t *testing.T) {
	f := openFixture(t, "model.safetensors")
	rope, _ := f.Tensor("freqs_cis")
	v, err := rope.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for pos := 0; pos < 256; pos++ {
		for i := 0; i < 8; i++ {
			angle := float64(pos) * math.Pow(50000, -2*float64(i)/16)
			bound := 4*angle*math.Ldexp(1, -24) + math.Ldexp(1, -24)
			k := (pos*8 + i) * 2
			if math.Abs(float64(v[k])-math.Cos(angle)) > bound || math.Abs(float64(v[k+1])-math.Sin(angle)) > bound {
				t.Fatalf("freqs_cis[0,%d,0,%d] = (%v, %v), want (cos, sin) of %v within %g", pos, i, v[k], v[k+1], angle, bound)
			}
		}
	}
}

// TestHuginnTinyBF16 checks that model.bf16.safetensors holds exactly the fp32 tensors rounded
// to nearest even, as its README says.
func TestHuginnTinyBF16(t *testing.T) {
	f32 := openFixture(t, "model.safetensors")
	bf := openFixture(t, "model.bf16.safetensors")
	if len(bf.Tensors()) != len(f32.Tensors()) {
		t.Fatalf("bf16 file has %d tensors, fp32 file %d", len(bf.Tensors()), len(f32.Tensors()))
	}
	for _, want := range f32.Tensors() {
		got, ok := bf.Tensor(want.Name)
		if !ok || got.DType != BF16 || !slices.Equal(got.Shape, want.Shape) {
			t.Fatalf("bf16 tensor %q: found %v, %s %v; want BF16 %v", want.Name, ok, got.DType, got.Shape, want.Shape)
		}
		exact := mustFloat32s(t, want)
		bits, err := got.BF16s()
		if err != nil {
			t.Fatal(err)
		}
		widened := mustFloat32s(t, got)
		for i, x := range exact {
			if bits[i] != roundBF16(x) || widened[i] != bf16ToFloat32(roundBF16(x)) {
				t.Fatalf("tensor %q[%d]: bf16 %#04x (%v), want %#04x, the rounding of %v", want.Name, i, bits[i], widened[i], roundBF16(x), x)
			}
			// bf16 keeps 8 significant bits, so its ulp is at most 2⁻⁷·|x| and rounding moves a
			// value by at most half of that.
			if math.Abs(float64(widened[i]-x)) > math.Abs(float64(x))*math.Ldexp(1, -8) {
				t.Fatalf("tensor %q[%d]: %v is beyond bf16 rounding of %v", want.Name, i, widened[i], x)
			}
		}
	}
}

func TestHuginnTinyOtherFilesOpen(t *testing.T) {
	for _, name := range []string{"golden.safetensors", "grads.safetensors"} {
		f := openFixture(t, name)
		for _, tt := range f.Tensors() {
			if _, err := tt.ToFloat32(); err != nil && (tt.DType == F32 || tt.DType == BF16) {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	c, err := OpenCheckpoint(filepath.Dir(fixtures.Path(t, "huginn-tiny", "model.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if files := c.Files(); len(files) != 1 || filepath.Base(files[0]) != SingleFileName || len(c.Names()) != 77 {
		t.Errorf("huginn-tiny folder opens as %v with %d names", files, len(c.Names()))
	}
}

// TestHuginn0125Index opens the real shard index: its shards are absent, so it must fail
// naming the first missing shard; with stand-in shards holding the named tensors it must open.
func TestHuginn0125Index(t *testing.T) {
	indexPath := fixtures.Path(t, "huginn-0125", IndexFileName)
	_, err := OpenCheckpoint(filepath.Dir(indexPath))
	if err == nil || !strings.Contains(err.Error(), "model-00001-of-00004.safetensors is missing") {
		t.Fatalf("error %v, want the missing first shard", err)
	}

	js := readFile(t, indexPath)
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(js, &index); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	byShard := map[string][]WriteTensor{}
	for name, shard := range index.WeightMap {
		byShard[shard] = append(byShard[shard], WriteTensor{Name: name, DType: U8, Shape: []int{len(name)}, Data: []byte(name)})
	}
	for shard, tensors := range byShard {
		if err := WriteFile(filepath.Join(dir, shard), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), js, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Names()) != 77 || len(c.Files()) != 4 {
		t.Fatalf("stand-in checkpoint: %d names in %d files, want 77 in 4", len(c.Names()), len(c.Files()))
	}
	for name, shard := range index.WeightMap {
		tt, _ := c.Tensor(name)
		if filepath.Base(tt.File) != shard || string(tt.Data) != name {
			t.Errorf("tensor %q read from %s holding %q, want %s", name, tt.File, tt.Data, shard)
		}
	}
	for name, shard := range map[string]string{"freqs_cis": "00001", "transformer.core_block.0.norm_1.weight": "00001",
		"transformer.core_block.0.norm_2.weight": "00002", "transformer.ln_f.weight": "00003", "lm_head.weight": "00004"} {
		if tt, _ := c.Tensor(name); !strings.Contains(tt.File, "model-"+shard+"-of-00004") {
			t.Errorf("tensor %q is in %s, want shard %s as huginn.md records", name, tt.File, shard)
		}
	}
}
