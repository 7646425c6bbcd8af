package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// writeJSON prints v as indented JSON: the output of every --json flag.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writtenReport is what init and convert print about the checkpoint they wrote.
type writtenReport struct {
	Out        string  `json:"out"`
	Parameters int64   `json:"parameters"`
	DType      string  `json:"dtype"`
	Shards     int     `json:"shards"`
	Seconds    float64 `json:"seconds"`
}

func (r writtenReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	bytesPer := map[string]int64{"bf16": 2, "fp32": 4}[r.DType]
	_, err := fmt.Fprintf(w, "wrote %s: %d parameters (%.2f GB of %s weights) in %d shard(s), %.1fs\n",
		r.Out, r.Parameters, float64(r.Parameters*bytesPer)/1e9, r.DType, r.Shards, r.Seconds)
	return err
}
