package tokenizer

// StreamDecoder decodes ids one at a time, as a generation loop produces them, without ever
// emitting half a UTF-8 character: bytes of an incomplete character wait for the next token.
// The concatenation of every Add result and the final Flush equals Decode(ids, false).
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	started bool
}

// NewStreamDecoder returns a decoder for a new stream of ids. Special tokens are decoded as
// their text; check IsSpecial before Add to leave them out.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Add decodes one more id and returns the text that is now complete ("" while a character is
// still incomplete or the id is unknown).
func (d *StreamDecoder) Add(id int) string {
	tok, ok := d.t.Token(id)
	if !ok {
		return ""
	}
	if !d.t.byteLevel {
		if d.started {
			tok = " " + tok
		}
		d.started = true
		return tok
	}
	d.pending = byteLevelDecode(d.pending, tok)
	text, rest := decodeUTF8Lossy(d.pending, false)
	d.pending = append(d.pending[:0], rest...)
	return text
}

// Flush returns what is still buffered, with an incomplete final character as U+FFFD.
func (d *StreamDecoder) Flush() string {
	text, _ := decodeUTF8Lossy(d.pending, true)
	d.pending = d.pending[:0]
	return text
}
