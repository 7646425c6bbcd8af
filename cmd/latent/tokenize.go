package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/latentlab/latent/tokenizer"
	"github.com/spf13/cobra"
)

func init() {
	var dir string
	var noSpecial, jsonLines bool
	cmd := &cobra.Command{
		Use:   "tokenize --tokenizer DIR [--no-special] --json",
		Short: "Encode text read from stdin, one line at a time, to JSON arrays of token ids",
		Example: `  echo "Hello world" | latent tokenize --tokenizer ~/models/huginn-0125
  printf '"line one\\nline two"\n' | latent tokenize --tokenizer ~/models/huginn-0125 --json`,
		Long: "Reads stdin line by line and prints, for each line, one JSON array of token ids.\n" +
			"With --json every line is a JSON string (so it may hold newlines and control characters);\n" +
			"without it every line is taken literally, without its line ending.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := tokenizer.Load(dir)
			if err != nil {
				return err
			}
			return tokenizeLines(tok, cmd.InOrStdin(), cmd.OutOrStdout(), !noSpecial, jsonLines)
		},
	}
	cmd.Flags().StringVar(&dir, "tokenizer", "", "model folder holding tokenizer.json, or the file itself")
	cmd.Flags().BoolVar(&noSpecial, "no-special", false, "do not add the post-processor's special tokens (BOS)")
	cmd.Flags().BoolVar(&jsonLines, "json", false, "each input line is a JSON string")
	_ = cmd.MarkFlagRequired("tokenizer")
	rootCmd.AddCommand(cmd)
}

// tokenizeLines encodes each line of in and writes its ids to out as a JSON array; the lines
// before a bad one are still written.
func tokenizeLines(tok *tokenizer.Tokenizer, in io.Reader, out io.Writer, addSpecial, jsonLines bool) error {
	w := bufio.NewWriter(out)
	err := encodeLines(tok, bufio.NewReaderSize(in, 1<<16), w, addSpecial, jsonLines)
	if flushErr := w.Flush(); err == nil {
		err = flushErr
	}
	return err
}

func encodeLines(tok *tokenizer.Tokenizer, r *bufio.Reader, w *bufio.Writer, addSpecial, jsonLines bool) error {
	for lineNo := 1; ; lineNo++ {
		line, readErr := r.ReadString('\n')
		if readErr != nil && readErr != io.EOF {
			return fmt.Errorf("tokenize: reading line %d: %w", lineNo, readErr)
		}
		if line == "" && readErr == io.EOF {
			break
		}
		text, err := lineText(line, jsonLines)
		if err != nil {
			return fmt.Errorf("tokenize: line %d: %w", lineNo, err)
		}
		ids := tok.Encode(text, addSpecial)
		if ids == nil {
			ids = []int{}
		}
		encoded, _ := json.Marshal(ids) // a []int always marshals
		w.Write(encoded)
		w.WriteByte('\n')
		if readErr == io.EOF {
			break
		}
	}
	return nil
}

// lineText strips the line ending and, in JSON mode, decodes the JSON string.
func lineText(line string, jsonLines bool) (string, error) {
	line = trimLineEnding(line)
	if !jsonLines {
		return line, nil
	}
	var text string
	if err := json.Unmarshal([]byte(line), &text); err != nil {
		return "", fmt.Errorf("not a JSON string: %v", err)
	}
	return text, nil
}

func trimLineEnding(line string) string {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}
