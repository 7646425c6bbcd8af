package tasks

import (
	"encoding/json"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"os"
	"path/filepath"
	"slices"
)

// VocabFile is the name of the file that marks a model folder as a task model: it names the task
// and lists its tokens by id.
const VocabFile = "vocab.json"

type vocabDoc struct {
	Task   string   `json:"task"`
	Tokens []string `json:"tokens"`
}

// WriteVocab writes dir/vocab.json for t atomically.
func WriteVocab(dir string, t Task) error {
	data, err := json.MarshalIndent(vocabDoc{Task: t.Name(), Tokens: t.Vocab().Names()}, "", "  ")
	if err != nil {
		return fmt.Errorf("tasks: vocab: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, VocabFile), append(data, '\n'))
}

// ParseVocab reads a vocab.json document and returns its task, checking that the tokens are the
// task's own; name is used in errors.
func ParseVocab(data []byte, name string) (Task, error) {
	var doc vocabDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("tasks: %s: %w", name, err)
	}
	t, err := ByName(doc.Task)
	if err != nil {
		return nil, fmt.Errorf("tasks: %s: %w", name, err)
	}
	if !slices.Equal(doc.Tokens, t.Vocab().Names()) {
		return nil, fmt.Errorf("tasks: %s: tokens %q differ from the %s task's %q", name, doc.Tokens, t.Name(), t.Vocab().Names())
	}
	return t, nil
}

// LoadVocab reads dir/vocab.json; ok is false when the folder has none (not a task model).
func LoadVocab(dir string) (t Task, ok bool, err error) {
	path := filepath.Join(dir, VocabFile)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("tasks: %w", err)
	}
	t, err = ParseVocab(data, path)
	return t, err == nil, err
}
