package train

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Batch is B sequences of T tokens, row-major: labels[i] is the target at position i (already
// shifted by the producer), or -100 for a position that carries no loss.
type Batch struct {
	Inputs, Labels []int
}

// Batcher produces training batches. Every random choice comes from rng, which the trainer owns
// and saves with each checkpoint, so a resumed run sees the same batches. Task generators
// (prefix parity, addition, ...) implement it as well as token streams do.
type Batcher interface {
	Next(rng *rand.Rand, B, T int) (Batch, error)
}

// TokenStream is a sequence of token ids from which batches are cut at random offsets.
type TokenStream struct {
	Tokens []int
}

// Next cuts B windows of T+1 tokens at random offsets: inputs are the first T, labels the last T.
func (s *TokenStream) Next(rng *rand.Rand, B, T int) (Batch, error) {
	if len(s.Tokens) < T+1 {
		return Batch{}, fmt.Errorf("train: token stream of %d tokens is shorter than a window of %d", len(s.Tokens), T+1)
	}
	b := Batch{Inputs: make([]int, 0, B*T), Labels: make([]int, 0, B*T)}
	for i := 0; i < B; i++ {
		start := rng.IntN(len(s.Tokens) - T)
		b.Inputs = append(b.Inputs, s.Tokens[start:start+T]...)
		b.Labels = append(b.Labels, s.Tokens[start+1:start+T+1]...)
	}
	return b, nil
}

// Split returns the stream's head and its last fraction frac (for validation).
func (s *TokenStream) Split(frac float64) (head, tail *TokenStream) {
	cut := len(s.Tokens) - int(float64(len(s.Tokens))*frac)
	return &TokenStream{Tokens: s.Tokens[:cut]}, &TokenStream{Tokens: s.Tokens[cut:]}
}

// ByteVocabSize is the vocabulary of the byte-level encoding: token id = byte value.
const ByteVocabSize = 256

// EncodeBytes maps text to byte-level token ids.
func EncodeBytes(text []byte) []int {
	ids := make([]int, len(text))
	for i, b := range text {
		ids[i] = int(b)
	}
	return ids
}

// LoadTokens reads a token file by its extension: .txt as text through the byte-level
// vocabulary, .u16 or .bin as little-endian uint16 ids, .u32 as little-endian uint32 ids. Every id
// must be below vocab.
func LoadTokens(path string, vocab int) (*TokenStream, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ids, err := decodeTokens(data, strings.ToLower(filepath.Ext(path)))
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	for i, id := range ids {
		if id >= vocab {
			return nil, fmt.Errorf("train: %s: token %d at index %d is outside the model's vocabulary of %d", path, id, i, vocab)
		}
	}
	return &TokenStream{Tokens: ids}, nil
}

func decodeTokens(data []byte, ext string) ([]int, error) {
	width := map[string]int{".txt": 1, ".u16": 2, ".bin": 2, ".u32": 4}[ext]
	if width == 0 {
		return nil, fmt.Errorf("unknown token file type %q (want .txt, .u16, .bin or .u32)", ext)
	}
	if len(data)%width != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte token ids", len(data), width)
	}
	ids := make([]int, len(data)/width)
	for i := range ids {
		switch width {
		case 1:
			ids[i] = int(data[i])
		case 2:
			ids[i] = int(binary.LittleEndian.Uint16(data[2*i:]))
		default:
			ids[i] = int(binary.LittleEndian.Uint32(data[4*i:]))
		}
	}
	return ids, nil
}
