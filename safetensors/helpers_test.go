package safetensors

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// craft builds file bytes: the 8-byte length of header, header itself, then dataLen zero bytes.
func craft(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

// writeTemp writes data to a new file in a fresh temporary folder and returns its path.
func writeTemp(tb testing.TB, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "t.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// openTemp writes data to a temporary file and opens it, closing it when the test ends.
func openTemp(tb testing.TB, data []byte) (*File, error) {
	tb.Helper()
	f, err := Open(writeTemp(tb, data))
	if err == nil {
		tb.Cleanup(func() { f.Close() })
	}
	return f, err
}

// roundBF16 rounds f to bfloat16, nearest with ties to even (as torch's .to(bfloat16)); used as
// an independent reference for the fixtures and the round trips (no NaN inputs).
func roundBF16(f float32) uint16 {
	b := math.Float32bits(f)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func mustFloat32s(tb testing.TB, t Tensor) []float32 {
	tb.Helper()
	v, err := t.ToFloat32()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
