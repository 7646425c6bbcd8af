package tasks

import (
	"fmt"
	"io/fs"

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
	return checkVocab(m, t, dir)
}

// LoadModelFS loads a task model folder held in a file system such as an embed.FS, in memory
// (see model.LoadFS); name says where it comes from in messages.
func LoadModelFS(fsys fs.FS, name string) (*model.Model, Task, error) {
	data, err := fs.ReadFile(fsys, VocabFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tasks: %s: not a task model: %w", name, err)
	}
	t, err := ParseVocab(data, name+"/"+VocabFile)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.LoadFS(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	return checkVocab(m, t, name)
}

// checkVocab returns m and t when the model's vocabulary is the task's, else closes m.
func checkVocab(m *model.Model, t Task, dir string) (*model.Model, Task, error) {
	if m.Config.PaddedVocabSize != t.Vocab().Size() {
		m.Close()
		return nil, nil, fmt.Errorf("tasks: %s: padded vocabulary %d differs from the %s task's %d tokens", dir, m.Config.PaddedVocabSize, t.Name(), t.Vocab().Size())
	}
	return m, t, nil
}
