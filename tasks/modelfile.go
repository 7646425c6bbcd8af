package tasks

import (
	"fmt"

	"github.com/latentlab/latent/model"
)

// LoadModel loads a task model folder: the model and the task named by its vocab.json.
func LoadModel(dir string) (*model.Model, Task, error) {
	t, ok, err := LoadVocab(dir)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("tasks: %s has no %s: not a task model", dir, VocabFile)
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	if m.Config.PaddedVocabSize != t.Vocab().Size() {
		m.Close()
		return nil, nil, fmt.Errorf("tasks: %s: padded vocabulary %d differs from the %s task's %d tokens", dir, m.Config.PaddedVocabSize, t.Name(), t.Vocab().Size())
	}
	return m, t, nil
}
