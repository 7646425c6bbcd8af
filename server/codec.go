package server

import (
	"fmt"
	"strings"

	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/tokenizer"
)

// Codec turns text into token ids and ids back into text for one model.
type Codec interface {
	// Encode encodes a prompt; special adds the tokens the codec adds around a text (BOS).
	Encode(text string, special bool) ([]int, error)
	// NewDecoder starts decoding a new stream of generated ids.
	NewDecoder() Decoder
	// Token is the text of one token, special tokens included (as logprobs name tokens).
	Token(id int) string
}

// Decoder decodes a stream of ids piece by piece; special tokens decode to "".
type Decoder interface {
	Add(id int) string
	Flush() string
}

// TokenizerCodec is the codec of a language model with a Hugging Face tokenizer.
type TokenizerCodec struct{ Tok *tokenizer.Tokenizer }

// Encode encodes text with the tokenizer.
func (c TokenizerCodec) Encode(text string, special bool) ([]int, error) {
	return c.Tok.Encode(text, special), nil
}

// NewDecoder returns a stream decoder that leaves special tokens out.
func (c TokenizerCodec) NewDecoder() Decoder {
	return &tokenizerDecoder{tok: c.Tok, dec: c.Tok.NewStreamDecoder()}
}

// Token decodes one id on its own.
func (c TokenizerCodec) Token(id int) string { return c.Tok.Decode([]int{id}, false) }

type tokenizerDecoder struct {
	tok *tokenizer.Tokenizer
	dec *tokenizer.StreamDecoder
}

func (d *tokenizerDecoder) Add(id int) string {
	if d.tok.IsSpecial(id) {
		return ""
	}
	return d.dec.Add(id)
}

func (d *tokenizerDecoder) Flush() string { return d.dec.Flush() }

// VocabCodec is the codec of a task model: every non-space character is the token of that name
// (as the tasks package reads prompts); "<pad>" and "<bos>" are special.
type VocabCodec struct{ Vocab *tasks.Vocab }

// Encode maps each non-space character to its token; special prepends "<bos>".
func (c VocabCodec) Encode(text string, special bool) ([]int, error) {
	var ids []int
	if bos, ok := c.Vocab.ID("<bos>"); ok && special {
		ids = append(ids, bos)
	}
	for i, r := range text {
		if r == ' ' {
			continue
		}
		id, ok := c.Vocab.ID(string(r))
		if !ok {
			return nil, fmt.Errorf("character %q at byte %d is not in the model's vocabulary %q", r, i, c.Vocab.Names())
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// NewDecoder returns a decoder that spells token names and leaves out "<pad>" and "<bos>".
func (c VocabCodec) NewDecoder() Decoder { return vocabDecoder{c.Vocab} }

// Token is the token's name.
func (c VocabCodec) Token(id int) string { return c.Vocab.Name(id) }

type vocabDecoder struct{ v *tasks.Vocab }

func (d vocabDecoder) Add(id int) string {
	name := d.v.Name(id)
	if strings.HasPrefix(name, "<") && strings.HasSuffix(name, ">") {
		return ""
	}
	return name
}

func (vocabDecoder) Flush() string { return "" }
