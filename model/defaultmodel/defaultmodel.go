// Package defaultmodel embeds the small model `latent run` and `latent eval` use when no --model
// is given: a recurrent-depth addition model trained by latent's own training code (see
// README.md for the exact command and seed). It is a task model folder: config.json,
// model.safetensors and the task vocabulary vocab.json.
package defaultmodel

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
)

//go:embed config.json model.safetensors vocab.json
var files embed.FS

// Files lists the embedded files of the model folder.
var Files = []string{"config.json", "model.safetensors", "vocab.json"}

// Name is how messages and the server name the embedded model.
const Name = "latent-default"

// Load returns the embedded model and its task, read from memory: nothing is written to disk.
func Load() (*model.Model, tasks.Task, error) {
	return tasks.LoadModelFS(files, Name)
}

// Extract writes the embedded model folder into a new temporary folder and returns it with a
// function that removes it, for tools that need the model as a folder; latent itself uses Load.
func Extract() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "latent-default-model-")
	if err != nil {
		return "", nil, fmt.Errorf("defaultmodel: %w", err)
	}
	remove = func() { os.RemoveAll(dir) }
	for _, name := range Files {
		data, err := files.ReadFile(name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		if err != nil {
			remove()
			return "", nil, fmt.Errorf("defaultmodel: %s: %w", name, err)
		}
	}
	return dir, remove, nil
}
