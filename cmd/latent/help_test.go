package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// noReport are the commands without a report to print as JSON: an interactive session and a
// server.
var noReport = map[string]bool{"latent chat": true, "latent serve": true}

// allCommands lists cmd's subcommands, recursively, without cobra's own.
func allCommands(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range cmd.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		out = append(out, c)
		out = append(out, allCommands(c)...)
	}
	return out
}

// TestEveryCommandHasExamplesAndJSON: before, only bench had an example and run, info, init,
// convert, bench, trace and train had no --json.
func TestEveryCommandHasExamplesAndJSON(t *testing.T) {
	for _, c := range allCommands(rootCmd) {
		if !strings.Contains(c.Example, "latent "+c.Name()) && !strings.Contains(c.Example, c.CommandPath()) {
			t.Errorf("%s --help has no example of itself", c.CommandPath())
		}
		if !noReport[c.CommandPath()] && c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", c.CommandPath())
		}
	}
}

// TestJSONOutputs runs the commands whose --json is new and decodes what they print.
func TestJSONOutputs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	run := t.TempDir()
	wantKey := map[string]string{"init": "parameters", "info": "check", "run": "answer", "trace": "tokens", "train": "event"}
	for _, args := range [][]string{ // in order: info reads what init wrote
		{"init", "--out", dir, "--json"},
		{"info", dir, "--json"},
		{"run", "--steps", "32", "--json", "5+5="},
		{"trace", "--prompt", "5+5=", "--steps", "32", "--out", filepath.Join(t.TempDir(), "t"), "--json"},
		taskTrainArgs(filepath.Join(run, "r"), "--json"),
	} {
		name := args[0]
		out, err := runCLI(t, "", args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		docs := 0
		for dec.More() {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%s --json printed something else than JSON: %v\n%s", name, err, out)
			}
			if _, ok := doc[wantKey[name]]; !ok {
				t.Errorf("%s --json printed %v, without %q", name, doc, wantKey[name])
			}
			docs++
		}
		if docs == 0 {
			t.Errorf("%s --json printed nothing", name)
		}
	}
}
