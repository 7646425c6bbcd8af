package train

import (
	"encoding/json"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
)

// Files of a checkpoint folder. The model part is a Hugging Face folder that model.Load reads;
// the training state sits beside it and is written last.
const (
	optimizerFile = "optimizer.safetensors"
	stateFile     = "trainer_state.json"
	tokenizerFile = "tokenizer.json"
	checkpointFmt = "checkpoint-%08d"
)

// SaveModel writes m as a Hugging Face folder: config.json (torch_dtype float32) and
// model.safetensors named like the real checkpoint, including the duplicated lm_head of tied
// embeddings and the freqs_cis rotary table. Both files are written atomically.
func SaveModel(m *Model, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	cfg := *m.Config
	cfg.TorchDtype = "float32"
	data, err := cfg.MarshalJSON()
	if err != nil {
		return fmt.Errorf("train: config: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n')); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var tensors []safetensors.WriteTensor
	for _, t := range m.Tensors {
		tensors = append(tensors, f32Tensor(t.Name, t.Shape, m.Values(t)))
	}
	if cfg.TieEmbeddings {
		tensors = append(tensors, f32Tensor("lm_head.weight", []int{cfg.PaddedVocabSize, cfg.NEmbd}, m.P.Wte))
	}
	tensors = append(tensors, f32Tensor("freqs_cis", []int{1, cfg.BlockSize, 1, cfg.HeadSize() / 2, 2}, ropeTable(&cfg)))
	return safetensors.WriteFile(filepath.Join(dir, safetensors.SingleFileName), tensors, map[string]string{"format": "pt"})
}

func f32Tensor(name string, shape []int, v []float32) safetensors.WriteTensor {
	return safetensors.WriteTensor{Name: name, DType: "F32", Shape: shape, Data: safetensors.Float32Bytes(v)}
}

// ropeTable returns the engine's rotary table as (cos, sin) pairs per position and frequency:
// rotating the unit vector (1, 0) by an angle gives exactly (cos, sin) of that angle.
func ropeTable(cfg *model.Config) []float32 {
	hd := cfg.HeadSize()
	rope := model.NewRope(hd, cfg.BlockSize, cfg.RopeBase)
	out := make([]float32, 0, cfg.BlockSize*hd)
	unit := make([]float32, hd)
	for t := 0; t < cfg.BlockSize; t++ {
		for i := 0; i < hd; i += 2 {
			unit[i], unit[i+1] = 1, 0
		}
		rope.Apply(unit, t)
		out = append(out, unit...)
	}
	return out
}

// LoadModel reads a Hugging Face folder (any dtype the engine reads) into a training model.
func LoadModel(dir string) (*Model, error) {
	eng, err := model.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer eng.Close()
	return FromWeights(eng.Config, eng.Weights)
}

// trainerState is the part of a checkpoint that makes training resumable.
type trainerState struct {
	Step       int             `json:"step"`
	TokensSeen int64           `json:"tokens_seen"`
	RNG        []byte          `json:"rng"` // the PCG generator's binary state
	Config     Config          `json:"config"`
	Data       json.RawMessage `json:"data_state,omitempty"` // a StatefulBatcher's own position
}

// StatefulBatcher is a Batcher that keeps a position of its own besides the trainer's RNG; its
// state is saved with each checkpoint and restored on resume.
type StatefulBatcher interface {
	Batcher
	State() (json.RawMessage, error)
	Restore(json.RawMessage) error
}

// Save writes a checkpoint of the model and the whole training state to
// dir/checkpoint-<step>: first into a temporary folder, then renamed into place, so a crash
// leaves either the complete checkpoint or none. tokenizer, when not empty, is copied in as
// tokenizer.json. Only the newest keep checkpoints are kept (keep ≤ 0 keeps all).
func (t *Trainer) Save(dir, tokenizer string, keep int) (string, error) {
	final := filepath.Join(dir, fmt.Sprintf(checkpointFmt, t.Opt.Step))
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	if err := t.writeCheckpoint(tmp, tokenizer); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.RemoveAll(final); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	syncDir(dir)
	return final, pruneCheckpoints(dir, keep)
}

func (t *Trainer) writeCheckpoint(dir, tokenizer string) error {
	if err := SaveModel(t.Model, dir); err != nil {
		return err
	}
	if tokenizer != "" {
		if err := model.CopyFileAtomic(tokenizer, filepath.Join(dir, tokenizerFile)); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	var moments []safetensors.WriteTensor
	for _, p := range t.Model.Tensors {
		moments = append(moments,
			f32Tensor("exp_avg."+p.Name, p.Shape, t.Opt.M[p.Offset:p.Offset+p.Size]),
			f32Tensor("exp_avg_sq."+p.Name, p.Shape, t.Opt.V[p.Offset:p.Offset+p.Size]))
	}
	if err := safetensors.WriteFile(filepath.Join(dir, optimizerFile), moments, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	st, err := t.state()
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, stateFile), append(data, '\n'))
}

func (t *Trainer) state() (*trainerState, error) {
	rng, err := t.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("train: rng state: %w", err)
	}
	st := &trainerState{Step: t.Opt.Step, TokensSeen: t.TokensSeen, RNG: rng, Config: t.Cfg}
	if sb, ok := t.Data.(StatefulBatcher); ok {
		if st.Data, err = sb.State(); err != nil {
			return nil, fmt.Errorf("train: data state: %w", err)
		}
	}
	return st, nil
}

// LatestCheckpoint returns the newest complete checkpoint folder under dir, or "" if none.
func LatestCheckpoint(dir string) (string, error) {
	steps, err := checkpointSteps(dir)
	if err != nil || len(steps) == 0 {
		return "", err
	}
	return filepath.Join(dir, fmt.Sprintf(checkpointFmt, steps[len(steps)-1])), nil
}

// checkpointSteps lists the steps of the complete checkpoints under dir, ascending.
func checkpointSteps(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var steps []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "checkpoint-")
		step, err := strconv.Atoi(rest)
		if !ok || err != nil || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), stateFile)); err == nil {
			steps = append(steps, step)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

func pruneCheckpoints(dir string, keep int) error {
	steps, err := checkpointSteps(dir)
	if err != nil || keep <= 0 {
		return err
	}
	for _, s := range steps[:max(len(steps)-keep, 0)] {
		if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf(checkpointFmt, s))); err != nil {
			return fmt.Errorf("train: prune: %w", err)
		}
	}
	return nil
}

// Resume rebuilds a trainer from a checkpoint folder written by Save: weights, optimizer
// moments, step, RNG and data position. steps, when positive, replaces the saved total.
func Resume(ckpt string, data Batcher, steps int) (*Trainer, error) {
	raw, err := os.ReadFile(filepath.Join(ckpt, stateFile))
	if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	var st trainerState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("train: resume: %s: %w", filepath.Join(ckpt, stateFile), err)
	}
	m, err := LoadModel(ckpt)
	if err != nil {
		return nil, err
	}
	cfg := st.Config
	if steps > 0 {
		cfg.Steps = steps
	}
	t, err := NewTrainer(m, data, cfg)
	if err != nil {
		return nil, err
	}
	if err := t.src.UnmarshalBinary(st.RNG); err != nil {
		return nil, fmt.Errorf("train: resume: rng state: %w", err)
	}
	if sb, ok := data.(StatefulBatcher); ok && st.Data != nil {
		if err := sb.Restore(st.Data); err != nil {
			return nil, fmt.Errorf("train: resume: data state: %w", err)
		}
	}
	t.Opt.Step, t.TokensSeen = st.Step, st.TokensSeen
	return t, t.loadMoments(filepath.Join(ckpt, optimizerFile))
}

func (t *Trainer) loadMoments(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	defer f.Close()
	for _, p := range t.Model.Tensors {
		for prefix, dst := range map[string][]float32{"exp_avg.": t.Opt.M, "exp_avg_sq.": t.Opt.V} {
			tensor, ok := f.Tensor(prefix + p.Name)
			if !ok {
				return fmt.Errorf("train: resume: %s lacks tensor %q", path, prefix+p.Name)
			}
			v, err := tensor.ToFloat32()
			if err != nil {
				return fmt.Errorf("train: resume: %w", err)
			}
			if len(v) != p.Size {
				return fmt.Errorf("train: resume: %s: tensor %q holds %d values, want %v", path, prefix+p.Name, len(v), p.Shape)
			}
			copy(dst[p.Offset:p.Offset+p.Size], v)
		}
	}
	return nil
}

// syncDir flushes a folder's entries (a rename) to disk; failures only cost durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
