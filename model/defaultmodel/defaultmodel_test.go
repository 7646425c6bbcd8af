package defaultmodel_test

import (
	"os"
	"testing"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/tasks"
)

func load(t *testing.T) (*model.Model, tasks.Task) {
	t.Helper()
	dir, remove, err := defaultmodel.Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	m, task, err := tasks.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if task.Name() != "addition" {
		t.Fatalf("the default model is a %s model, want addition", task.Name())
	}
	return m, task
}

func TestAnswersFixedPrompts(t *testing.T) {
	m, task := load(t)
	thr := tasks.DefaultKLThreshold
	for prompt, want := range map[string]string{
		"12345+67890=": "80235", "999+1=": "1000", "5+5=": "10", "0+0=": "0",
		"9999999999+1=": "10000000000", "3141592653+2718281828=": "5859874481",
	} {
		ex, err := task.Parse(prompt)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tasks.SolveAdaptive(m, ex, tasks.AdaptiveOptions{Criterion: "kl", Threshold: &thr,
			MaxSteps: 4 * m.Config.MeanRecurrence, Init: tasks.InitState{Scale: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if got := task.Answer(ex, res.Pred); got != want {
			t.Errorf("%s answered %s with adaptive compute, want %s (steps %v)", prompt, got, want, res.ExitSteps)
		}
	}
}

// TestRecurrenceMakesItRight checks the trained behaviour the model is shipped for: on held-out
// 10-digit sums one recurrence is not enough, the mean recurrence is.
func TestRecurrenceMakesItRight(t *testing.T) {
	m, task := load(t)
	rbar := m.Config.MeanRecurrence
	tab, err := tasks.Evaluate(m, task, tasks.EvalOptions{Sizes: []int{10}, Steps: []int{1, rbar}, Instances: 100,
		Seed: 11, Init: tasks.InitState{Scale: 1, Seed: 11}})
	if err != nil {
		t.Fatal(err)
	}
	one, mean := tab.Accuracy[0][0], tab.Accuracy[0][1]
	if mean < 0.97 || one > 0.6 {
		t.Errorf("10-digit exact match: %.0f %% at r=1 and %.0f %% at r=%d, want ≤ 60 %% and ≥ 97 %%", 100*one, 100*mean, rbar)
	}
}

func TestEmbeddedFilesAreSmall(t *testing.T) {
	dir, remove, err := defaultmodel.Extract()
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.ParameterCount(); n*4 > 3<<20 {
		t.Errorf("the default model has %d parameters (%d bytes in fp32), want under 3 MiB", n, n*4)
	}
}

// TestLoadWritesNothing loads the embedded model with the temporary folder pointing nowhere
// and with it empty: loading must neither need nor leave a temporary folder.
func TestLoadWritesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	m, task, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if task.Name() != "addition" || m.Config.PaddedVocabSize != task.Vocab().Size() {
		t.Errorf("loaded a %s model of vocabulary %d", task.Name(), m.Config.PaddedVocabSize)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("loading the embedded model left %v in the temporary folder", entries)
	}
}
