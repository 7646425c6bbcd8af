package tasks

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/train"
)

// TrainOptions describe one training run of a task model.
type TrainOptions struct {
	Task     Task
	Shape    Shape
	Min, Max int          // instance sizes drawn uniformly
	Train    train.Config // batch, steps, recurrence, optimizer, schedule, seed; SeqLen 0 fits Max
	Out      string       // model folder to write
	LogEvery int          // print a progress line every N steps (0: never)
}

// TrainReport is what a run did; it is saved as train_report.json beside the model.
type TrainReport struct {
	Task       string       `json:"task"`
	Shape      Shape        `json:"shape"`
	Sizes      [2]int       `json:"sizes"`
	Train      train.Config `json:"train"`
	Parameters int64        `json:"parameters"`
	Steps      int          `json:"steps"`
	Seconds    float64      `json:"seconds"`
	FinalLoss  float64      `json:"final_loss"` // mean over the last 50 steps
}

// TrainModel trains a fresh model of opt.Shape on opt.Task and writes it to opt.Out as a model
// folder (config.json, model.safetensors, vocab.json, train_report.json).
func TrainModel(opt TrainOptions, log io.Writer) (*TrainReport, error) {
	data, err := NewBatcher(opt.Task, opt.Min, opt.Max)
	if err != nil {
		return nil, err
	}
	cfg, err := opt.Shape.Config(opt.Task.Vocab().Size())
	if err != nil {
		return nil, err
	}
	tc := opt.Train
	if tc.SeqLen == 0 {
		tc.SeqLen = data.SeqLen()
	}
	m, err := train.InitModel(cfg, tc.Seed)
	if err != nil {
		return nil, err
	}
	tr, err := train.NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	rep := &TrainReport{Task: opt.Task.Name(), Shape: opt.Shape, Sizes: [2]int{opt.Min, opt.Max}, Train: tc,
		Parameters: cfg.ParameterCount()}
	start := time.Now()
	var recent []float64
	for tr.Opt.Step < tc.Steps {
		res, err := tr.Step()
		if err != nil {
			return nil, err
		}
		recent = append(recent, res.Loss)
		if len(recent) > 50 {
			recent = recent[1:]
		}
		if opt.LogEvery > 0 && (res.Step%opt.LogEvery == 0 || res.Step == tc.Steps) {
			fmt.Fprintf(log, "step %d/%d loss %.4f (mean of last %d: %.4f) r %d lr %.2e grad %.3f %.0fs\n",
				res.Step, tc.Steps, res.Loss, len(recent), mean(recent), res.Recurrence.Total(), res.LR, res.GradNorm,
				time.Since(start).Seconds())
		}
	}
	rep.Steps, rep.Seconds, rep.FinalLoss = tr.Opt.Step, time.Since(start).Seconds(), mean(recent)
	return rep, saveTaskModel(tr.Model, opt.Task, rep, opt.Out)
}

func saveTaskModel(m *train.Model, t Task, rep *TrainReport, dir string) error {
	if err := train.SaveModel(m, dir); err != nil {
		return err
	}
	if err := WriteVocab(dir, t); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("tasks: report: %w", err)
	}
	return model.WriteFileAtomic(filepath.Join(dir, "train_report.json"), append(data, '\n'))
}

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

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
