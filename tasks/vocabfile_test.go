package tasks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVocabRoundTripAndErrors(t *testing.T) {
	for _, name := range Names() {
		task, _ := ByName(name)
		dir := t.TempDir()
		if err := WriteVocab(dir, task); err != nil {
			t.Fatal(err)
		}
		got, ok, err := LoadVocab(dir)
		if err != nil || !ok || got.Name() != name {
			t.Fatalf("%s: LoadVocab = %v, %v, %v", name, got, ok, err)
		}
	}
	if _, ok, err := LoadVocab(t.TempDir()); ok || err != nil {
		t.Errorf("a folder without vocab.json: ok %v, err %v; want not a task model, no error", ok, err)
	}
	for doc, want := range map[string]string{
		`{"task": "parity", "tokens": ["<pad>"]}`: "differ",
		`{"task": "chess", "tokens": []}`:         `unknown task "chess"`,
		`{"task": `:                               "unexpected end",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, VocabFile), []byte(doc), 0o644)
		_, _, err := LoadVocab(dir)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), VocabFile) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", doc, err, VocabFile, want)
		}
	}
}

func FuzzParseVocab(f *testing.F) {
	f.Add([]byte(`{"task": "parity", "tokens": ["<pad>", "<bos>", "0", "1"]}`))
	f.Add([]byte(`{"task": "addition"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := ParseVocab(data, "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if _, err := ByName(task.Name()); err != nil {
			t.Fatalf("accepted a document for an unknown task: %v", err)
		}
	})
}
