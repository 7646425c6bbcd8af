package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
)

func randomStream(n, vocab int, seed uint64) *TokenStream {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &TokenStream{Tokens: make([]int, n)}
	for i := range s.Tokens {
		s.Tokens[i] = rng.IntN(vocab)
	}
	return s
}

func testConfig(kind string) Config {
	return Config{Batch: 2, SeqLen: 8, Steps: 6, MeanRecurrence: 3, BackpropDepth: 2, Sigma: 0.5, InitScale: 1,
		Optimizer: DefaultOptimizer(kind, 1e-3), Warmup: 2, Cooldown: 2, Seed: 42}
}

func newTestTrainer(t *testing.T, kind string) *Trainer {
	t.Helper()
	cfg := tinyConfig(t)
	tr, err := NewTrainer(randomModel(t, cfg, 5), randomStream(500, cfg.PaddedVocabSize, 9), testConfig(kind))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func runSteps(t *testing.T, tr *Trainer, n int) []StepResult {
	t.Helper()
	var out []StepResult
	for i := 0; i < n; i++ {
		res, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
			t.Fatalf("step %d: loss %v", res.Step, res.Loss)
		}
		out = append(out, res)
	}
	return out
}

// TestResumeIsExact trains N steps straight and N/2 + save + resume + N/2 and requires
// bit-identical weights, moments and step results, for both optimizers.
func TestResumeIsExact(t *testing.T) {
	for _, kind := range []string{"adamw", "adam-atan2"} {
		t.Run(kind, func(t *testing.T) {
			straight := newTestTrainer(t, kind)
			want := runSteps(t, straight, 6)

			first := newTestTrainer(t, kind)
			got := runSteps(t, first, 3)
			dir := t.TempDir()
			ckpt, err := first.Save(dir, "", 2)
			if err != nil {
				t.Fatal(err)
			}
			resumed, err := Resume(ckpt, randomStream(500, first.Model.Config.PaddedVocabSize, 9), 0)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, runSteps(t, resumed, 3)...)
			if !slices.Equal(got, want) {
				t.Errorf("step results differ:\n got %+v\nwant %+v", got, want)
			}
			if !slices.Equal(resumed.Model.Data, straight.Model.Data) {
				t.Error("weights after resume differ from the uninterrupted run")
			}
			if !slices.Equal(resumed.Opt.M, straight.Opt.M) || !slices.Equal(resumed.Opt.V, straight.Opt.V) {
				t.Error("optimizer moments after resume differ from the uninterrupted run")
			}
			if slices.Equal(straight.Model.Data, newTestTrainer(t, kind).Model.Data) {
				t.Error("training did not change the weights")
			}
		})
	}
}

// TestCheckpointLoadsInEngine saves a trained model and loads it with model.Load: the weights
// round-trip exactly and the engine's forward gives the graph's loss.
func TestCheckpointLoadsInEngine(t *testing.T) {
	tr := newTestTrainer(t, "adamw")
	runSteps(t, tr, 2)
	tok := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(tok, []byte(`{"model":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt, err := tr.Save(t.TempDir(), tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", optimizerFile, stateFile} {
		if _, err := os.Stat(filepath.Join(ckpt, f)); err != nil {
			t.Errorf("checkpoint lacks %s: %v", f, err)
		}
	}
	eng, err := model.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	back, err := FromWeights(eng.Config, eng.Weights)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Data, tr.Model.Data) {
		t.Fatal("weights loaded by the engine differ from the saved ones")
	}
	ids := randomStream(9, 32, 3).Tokens
	out, err := eng.Forward(ids[:8], model.ForwardOptions{Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGraph(tr.Model, 1, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	loss, _, err := g.Forward(ids[:8], ids[1:], make([]float32, 8*16), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	engineLoss := 0.0
	for i := 0; i < 8; i++ {
		row := append([]float32(nil), out.Logits[i*32:(i+1)*32]...)
		engineLoss += softmaxNLL(row, ids[i+1]) / 8
	}
	if math.Abs(engineLoss-loss) > 1e-5 {
		t.Errorf("engine loss %.7f, graph loss %.7f", engineLoss, loss)
	}
}

// TestLatestCheckpointSkipsIncomplete ignores a half-written checkpoint folder.
func TestLatestCheckpointSkipsIncomplete(t *testing.T) {
	tr := newTestTrainer(t, "adamw")
	runSteps(t, tr, 1)
	dir := t.TempDir()
	want, err := tr.Save(dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "checkpoint-00000009"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := LatestCheckpoint(dir); err != nil || got != want {
		t.Errorf("LatestCheckpoint = %q, %v; want %q", got, err, want)
	}
}

// TestMemoryDoesNotGrowWithRecurrence: the live heap after a pass with 41 recurrences is no
// larger than after one with 3 (steps without gradient reuse the first grad step's buffers), and
// the estimate grows with k.
func TestMemoryDoesNotGrowWithRecurrence(t *testing.T) {
	cfg := tinyConfig(t)
	m := randomModel(t, cfg, 1)
	g, err := NewGraph(m, 2, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	ids := randomStream(16, 32, 1).Tokens
	s0 := make([]float32, 16*cfg.NEmbd)
	liveAfter := func(n int) int64 {
		if _, _, err := g.Forward(ids, ids, s0, n, 2); err != nil {
			t.Fatal(err)
		}
		g.Backward()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	liveAfter(1)
	small, large := liveAfter(1), liveAfter(40)
	oneStep := int64(len(g.steps[0].cat)) * 4 // far less than one recurrence's activations
	if large > small+oneStep {
		t.Errorf("live heap after 41 recurrences %d bytes, after 3 %d", large, small)
	}
	if len(g.steps) != 2 {
		t.Errorf("graph holds %d grad-step activation sets, want k = 2", len(g.steps))
	}
	est1, est2 := EstimateMemory(cfg, 2, 8, 1), EstimateMemory(cfg, 2, 8, 2)
	if est2.Activations <= est1.Activations {
		t.Errorf("activation estimate does not grow with k: %d vs %d", est1.Activations, est2.Activations)
	}
}

// TestMemoryRefusal: a configuration over the limit is refused before anything is allocated,
// and the error carries the estimate.
func TestMemoryRefusal(t *testing.T) {
	cfg, err := model.BuiltinConfig("huginn-0125")
	if err != nil {
		t.Fatal(err)
	}
	est := EstimateMemory(cfg, 8, 4096, 8)
	if est.Total() < 50<<30 {
		t.Fatalf("estimate for Huginn-0125 is implausibly small: %v", est)
	}
	err = CheckMemory(est, 24<<30)
	if err == nil || !strings.Contains(err.Error(), "GiB") {
		t.Fatalf("CheckMemory = %v, want a refusal with the estimate", err)
	}
	tc := testConfig("adamw")
	tc.MaxMemory = 1 << 10
	tiny := tinyConfig(t)
	if _, err := NewTrainer(randomModel(t, tiny, 1), randomStream(100, 32, 1), tc); err == nil {
		t.Error("NewTrainer accepted a run over its memory limit")
	}
}

// TestTrainingLowersLoss: a few dozen steps on a repetitive stream bring the loss well down.
func TestTrainingLowersLoss(t *testing.T) {
	cfg := tinyConfig(t)
	stream := &TokenStream{}
	for i := 0; i < 400; i++ {
		stream.Tokens = append(stream.Tokens, i%7)
	}
	tc := testConfig("adam-atan2")
	tc.Steps, tc.Optimizer.LR = 40, 1e-2
	tr, err := NewTrainer(randomModel(t, cfg, 2), stream, tc)
	if err != nil {
		t.Fatal(err)
	}
	res := runSteps(t, tr, 40)
	first, last := res[0].Loss, res[len(res)-1].Loss
	if last > first/3 {
		t.Errorf("loss went from %.3f to %.3f", first, last)
	}
	val, err := tr.Evaluate(stream, 3, 2, 1)
	if err != nil || val > first/3 {
		t.Errorf("validation loss %.3f (%v)", val, err)
	}
}

// TestCheckpointLayoutMatchesReference saves a model of the reference fixture's config and
// compares it with the checkpoint the official PyTorch code wrote for that config: the same
// tensor names, dtypes and shapes (freqs_cis and the tied lm_head included), the same metadata,
// and a config.json with every key of the reference's.
func TestCheckpointLayoutMatchesReference(t *testing.T) {
	ref := fixtures.Path(t, "huginn-tiny")
	cfg, err := model.LoadConfig(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := InitModel(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveModel(m, dir); err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Open(filepath.Join(ref, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	layout := func(f *safetensors.File) []string {
		var out []string
		for _, tn := range f.Tensors() {
			out = append(out, fmt.Sprintf("%s %s %v", tn.Name, tn.DType, tn.Shape))
		}
		return out
	}
	if g, w := layout(got), layout(want); !slices.Equal(g, w) {
		t.Errorf("tensors differ from the reference checkpoint:\n got %q\nwant %q", g, w)
	}
	if !maps.Equal(got.Metadata(), want.Metadata()) {
		t.Errorf("metadata %v, reference %v", got.Metadata(), want.Metadata())
	}
	keys := func(path string) map[string]any {
		var doc map[string]any
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	ours := keys(filepath.Join(dir, "config.json"))
	for k := range keys(filepath.Join(ref, "config.json")) {
		if _, ok := ours[k]; !ok {
			t.Errorf("config.json lacks the reference key %q", k)
		}
	}
}
