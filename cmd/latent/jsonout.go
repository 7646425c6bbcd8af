package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	Bytes      int64   `json:"bytes"` // the safetensors files' sizes, headers included
	Shards     int     `json:"shards"`
	Seconds    float64 `json:"seconds"`
}

// newWrittenReport describes the checkpoint just written to out, sizing it from its files.
func newWrittenReport(out string, parameters int64, dtype string, shards int, start time.Time) (writtenReport, error) {
	rep := writtenReport{Out: out, Parameters: parameters, DType: dtype, Shards: shards, Seconds: time.Since(start).Seconds()}
	entries, err := os.ReadDir(out)
	if err != nil {
		return rep, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".safetensors") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return rep, fmt.Errorf("%s: %w", filepath.Join(out, e.Name()), err)
		}
		rep.Bytes += info.Size()
	}
	return rep, nil
}

func (r writtenReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	_, err := fmt.Fprintf(w, "wrote %s: %d parameters (%.2f GB of %s weights) in %d shard(s), %.1fs\n",
		r.Out, r.Parameters, float64(r.Bytes)/1e9, r.DType, r.Shards, r.Seconds)
	return err
}
