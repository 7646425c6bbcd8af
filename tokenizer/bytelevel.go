package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the
// other 68 bytes (controls, space, DEL, NBSP, soft hyphen...) to U+0100 onwards in byte order,
// so every byte becomes a visible character and a byte-level vocabulary needs no escapes.
var byteToRune [256]rune

// runeToByte inverts byteToRune.
var runeToByte = map[rune]byte{}

func init() {
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevelEncode maps every byte of s to its GPT-2 symbol.
func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}

// byteLevelDecode appends the bytes that token's symbols stand for. Like Hugging Face's
// ByteLevel decoder, a token holding any character outside the table (an added token such as
// "<|é|>") contributes its own UTF-8 bytes unchanged.
func byteLevelDecode(dst []byte, token string) []byte {
	start := len(dst)
	for _, r := range token {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], token...)
		}
		dst = append(dst, b)
	}
	return dst
}

// decodeUTF8Lossy converts b to a string the way Rust's String::from_utf8_lossy does: each
// maximal ill-formed subpart becomes one U+FFFD (Go's own conversion would give one per byte).
// When final is false an incomplete but so-far valid sequence at the very end is not converted
// but returned as rest, so a streaming caller can wait for its remaining bytes.
func decodeUTF8Lossy(b []byte, final bool) (text string, rest []byte) {
	var sb strings.Builder
	sb.Grow(len(b))
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			sb.WriteByte(b[i])
			i++
			continue
		}
		n, complete := validPrefix(b[i:])
		switch {
		case complete:
			sb.Write(b[i : i+n])
		case i+n == len(b) && n > 0 && !final:
			return sb.String(), b[i:]
		default:
			sb.WriteRune(utf8.RuneError)
		}
		i += max(n, 1)
	}
	return sb.String(), nil
}

// validPrefix reports how many leading bytes of b (which starts with a non-ASCII byte) form a
// well-formed UTF-8 sequence or the longest valid prefix of one (Unicode Table 3-7), and whether
// that sequence is complete. n is 0 when the first byte can never start a sequence.
func validPrefix(b []byte) (n int, complete bool) {
	lead := b[0]
	var size int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		size = 2
	case lead == 0xE0:
		size, lo = 3, 0xA0
	case lead == 0xED:
		size, hi = 3, 0x9F
	case lead >= 0xE1 && lead <= 0xEF:
		size = 3
	case lead == 0xF0:
		size, lo = 4, 0x90
	case lead == 0xF4:
		size, hi = 4, 0x8F
	case lead >= 0xF1 && lead <= 0xF3:
		size = 4
	default:
		return 0, false
	}
	n = 1
	for n < size && n < len(b) {
		c := b[n]
		if n == 1 && (c < lo || c > hi) || n > 1 && (c < 0x80 || c > 0xBF) {
			return n, false
		}
		n++
	}
	return n, n == size
}

// validUTF8 returns s unchanged when it is valid UTF-8 and otherwise with each maximal
// ill-formed subpart replaced by U+FFFD (what a Rust or Python caller would have to pass).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	text, _ := decodeUTF8Lossy([]byte(s), true)
	return text
}
