package train

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s, err := LoadTokens(write("a.txt", []byte("hi!")), ByteVocabSize)
	if err != nil || len(s.Tokens) != 3 || s.Tokens[0] != 'h' || s.Tokens[2] != '!' {
		t.Fatalf("text: %v, %v", s, err)
	}
	s, err = LoadTokens(write("a.u16", []byte{1, 0, 0, 1}), 300)
	if err != nil || len(s.Tokens) != 2 || s.Tokens[0] != 1 || s.Tokens[1] != 256 {
		t.Fatalf("u16: %v, %v", s, err)
	}
	if _, err := LoadTokens(write("b.u16", []byte{1, 0, 0, 1}), 100); err == nil {
		t.Error("an id outside the vocabulary was accepted")
	}
	if _, err := LoadTokens(write("c.u32", []byte{1, 0, 0}), 100); err == nil {
		t.Error("a truncated u32 file was accepted")
	}
	if _, err := LoadTokens(write("d.csv", []byte{1}), 100); err == nil {
		t.Error("an unknown extension was accepted")
	}
}

func TestTokenStreamBatches(t *testing.T) {
	s := &TokenStream{Tokens: EncodeBytes([]byte("abcdefghijklmnopqrstuvwxyz"))}
	b, err := s.Next(rand.New(rand.NewPCG(1, 2)), 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Inputs {
		if b.Labels[i] != b.Inputs[i]+1 {
			t.Fatalf("labels are not the next tokens: %v / %v", b.Inputs, b.Labels)
		}
	}
	if _, err := s.Next(rand.New(rand.NewPCG(1, 2)), 1, 26); err == nil {
		t.Error("a window longer than the stream was accepted")
	}
}

func FuzzDecodeTokens(f *testing.F) {
	f.Add([]byte("hello"), uint8(0))
	f.Add([]byte{1, 2, 3}, uint8(1))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(2))
	exts := []string{".txt", ".u16", ".u32", ".bin", ".xyz"}
	f.Fuzz(func(t *testing.T, data []byte, e uint8) {
		ext := exts[int(e)%len(exts)]
		ids, err := decodeTokens(data, ext)
		if err != nil {
			return
		}
		width := map[string]int{".txt": 1, ".u16": 2, ".bin": 2, ".u32": 4}[ext]
		if len(ids)*width != len(data) {
			t.Fatalf("%s: %d bytes decoded into %d ids", ext, len(data), len(ids))
		}
		for _, id := range ids {
			if id < 0 {
				t.Fatalf("negative id %d", id)
			}
		}
	})
}
