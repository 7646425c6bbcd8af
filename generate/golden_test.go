package generate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
)

// The goldens of ../shared/fixtures/huginn-tiny (items 4, 5, 6 and 8): the official reference's
// generate_minimal, generate_with_adaptive_compute and generate_speculative on the tiny random
// checkpoint, greedy, init_scale 0.

type goldenRun struct {
	NewTokens  []int           `json:"new_tokens"`
	Steps      []int           `json:"steps_per_token"`
	Robust     int             `json:"robust_prefix_len"`
	Strategy   string          `json:"cache_lookup_strategy"`
	Continuous bool            `json:"continuous_compute"`
	EOS        *int            `json:"eos_token_id"`
	Criterion  string          `json:"criterion"`
	Threshold  json.RawMessage `json:"exit_threshold"`
	MinSteps   int             `json:"min_steps"`
	CheckEvery int             `json:"check_criterion_every_n_steps"`
	CoreCalls  int             `json:"core_block_forward_calls"`
	KV         struct {
		Total int `json:"total_kv_entries"`
	} `json:"kv_cache"`
}

type goldenDoc struct {
	Inputs struct {
		PromptIDs []int `json:"prompt_ids"`
	} `json:"inputs"`
	Minimal struct {
		Runs map[string]goldenRun `json:"runs"`
	} `json:"item4_generate_minimal"`
	Adaptive struct {
		Runs map[string]goldenRun `json:"runs"`
	} `json:"item5_adaptive"`
	Speculative goldenRun `json:"item6_speculative"`
	KV          struct {
		Minimal map[string]struct {
			Total int `json:"total_kv_entries"`
		} `json:"generate_minimal_num_steps8"`
		Speculative float64 `json:"speculative_full"`
	} `json:"item8_kv_cache"`
	Robustness struct {
		Criteria struct {
			Margins map[string]float64 `json:"exit_value_abs_margin"`
		} `json:"criteria"`
	} `json:"robustness"`
}

type tinyFixture struct {
	m      *model.Model
	doc    goldenDoc
	values *safetensors.File
}

func loadFixture(t *testing.T) *tinyFixture {
	t.Helper()
	dir := fixtures.Path(t, "huginn-tiny")
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &tinyFixture{m: loadTinyModel(t)}
	if err := json.Unmarshal(raw, &f.doc); err != nil {
		t.Fatalf("golden.json: %v", err)
	}
	if f.values, err = safetensors.Open(filepath.Join(dir, "golden.safetensors")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.values.Close() })
	return f
}

func loadTinyModel(t testing.TB) *model.Model {
	t.Helper()
	m, err := model.Load(fixtures.Path(t, "huginn-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// run generates with opt and returns the tokens and the generator.
// run generates on the fixture's prompt with the reference's quirks, as the goldens were made.
func (f *tinyFixture) run(t *testing.T, opt Options) ([]Token, *Generator) {
	t.Helper()
	opt.ReferenceQuirks = true
	g, err := New(f.m, f.doc.Inputs.PromptIDs, opt)
	if err != nil {
		t.Fatal(err)
	}
	var toks []Token
	for tok, err := range g.Tokens() {
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks, g
}

func ids(toks []Token) []int {
	out := make([]int, len(toks))
	for i, t := range toks {
		out[i] = t.ID
	}
	return out
}

func steps(toks []Token) []int {
	out := make([]int, len(toks))
	for i, t := range toks {
		out[i] = t.Steps
	}
	return out
}

// compareRun checks tokens and steps exactly within the robust prefix, and the whole length.
func compareRun(t *testing.T, toks []Token, want goldenRun, checkSteps bool) {
	t.Helper()
	if len(toks) != len(want.NewTokens) {
		t.Fatalf("generated %d tokens %v, reference %d %v", len(toks), ids(toks), len(want.NewTokens), want.NewTokens)
	}
	L := want.Robust
	if got := ids(toks)[:L]; !slices.Equal(got, want.NewTokens[:L]) {
		t.Errorf("tokens[:%d] = %v, reference %v", L, got, want.NewTokens[:L])
	}
	if checkSteps {
		if got := steps(toks)[:L]; !slices.Equal(got, want.Steps[:L]) {
			t.Errorf("steps[:%d] = %v, reference %v", L, got, want.Steps[:L])
		}
	}
}

func TestGoldenMinimal(t *testing.T) {
	f := loadFixture(t)
	for name, want := range f.doc.Minimal.Runs {
		t.Run(name, func(t *testing.T) {
			opt := Options{MaxNew: 20, Steps: 8, Cache: want.Strategy, Continuous: want.Continuous}
			if want.EOS != nil {
				opt.StopTokens = append(DefaultStopTokens(f.m.Config), *want.EOS)
			}
			toks, g := f.run(t, opt)
			compareRun(t, toks, want, false)
			for i, tok := range toks {
				if tok.Steps != 8 || tok.Exited || !math.IsNaN(tok.ExitValue) {
					t.Errorf("token %d: steps %d exited %v value %v, want 8 steps and no exit", i, tok.Steps, tok.Exited, tok.ExitValue)
				}
			}
			if got := g.Stats().StepCalls; got != want.CoreCalls {
				t.Errorf("%d recurrences, reference %d core_block_forward calls", got, want.CoreCalls)
			}
			if kv, ok := f.doc.KV.Minimal[name]; ok {
				if got := g.Cache().Entries(); got != kv.Total {
					t.Errorf("KV entries %d, reference %d", got, kv.Total)
				}
			}
		})
	}
}

func TestGoldenAdaptive(t *testing.T) {
	f := loadFixture(t)
	for name, want := range f.doc.Adaptive.Runs {
		t.Run(name, func(t *testing.T) {
			ex := &ExitOptions{Criterion: want.Criterion, MinSteps: want.MinSteps, CheckEvery: want.CheckEvery}
			if string(want.Threshold) != `"auto"` {
				var thr float64
				if err := json.Unmarshal(want.Threshold, &thr); err != nil {
					t.Fatalf("exit_threshold %s: %v", want.Threshold, err)
				}
				ex.Threshold = &thr
			}
			toks, g := f.run(t, Options{MaxNew: 20, Steps: 32, Cache: want.Strategy, Continuous: want.Continuous, Exit: ex})
			compareRun(t, toks, want, true)
			f.compareExitValues(t, name, want, toks)
			if want.Robust == len(want.NewTokens) {
				if got := g.Cache().Entries(); got != want.KV.Total {
					t.Errorf("KV entries %d, reference %d", got, want.KV.Total)
				}
				total := 0
				for _, s := range want.Steps {
					total += s
				}
				if got := g.Stats().StepCalls; got != total {
					t.Errorf("%d recurrences, reference %d", got, total)
				}
			}
		})
	}
}

// compareExitValues checks every checked value of the robust tokens against the reference's
// [token, step] table (-inf: not checked), within the README's per-criterion margin; the
// argmax-stability counters exactly.
func (f *tinyFixture) compareExitValues(t *testing.T, name string, want goldenRun, toks []Token) {
	t.Helper()
	tensorName := "adaptive." + name + ".exit_values"
	tn, ok := f.values.Tensor(tensorName)
	if !ok {
		t.Fatalf("golden tensor %q missing", tensorName)
	}
	table, err := tn.ToFloat32()
	if err != nil {
		t.Fatal(err)
	}
	const maxSteps = 32
	margin := f.doc.Robustness.Criteria.Margins[want.Criterion] // 0 for argmax-stability: exact
	for i := range want.Robust {
		got := map[int]float64{}
		for _, c := range toks[i].Checks {
			got[c.Step] = c.Value
		}
		for s := range maxSteps {
			ref := float64(table[i*maxSteps+s])
			v, checked := got[s+1]
			switch {
			case math.IsInf(ref, -1):
				if checked {
					t.Errorf("token %d step %d: checked (value %g), reference did not check", i, s+1, v)
				}
			case !checked:
				t.Errorf("token %d step %d: not checked, reference value %g", i, s+1, ref)
			case math.IsNaN(ref) != math.IsNaN(v):
				t.Errorf("token %d step %d: value %g, reference %g", i, s+1, v, ref)
			case math.Abs(v-ref) > margin:
				t.Errorf("token %d step %d: value %.9g, reference %.9g (|diff| %.3g > %.3g)", i, s+1, v, ref, math.Abs(v-ref), margin)
			}
		}
	}
}

func TestGoldenSpeculative(t *testing.T) {
	f := loadFixture(t)
	want := f.doc.Speculative
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			sp := &SpeculativeOptions{DraftSteps: 2, Lookahead: 4, Verify: 1, ReuseDraft: reuse}
			toks, g := f.run(t, Options{MaxNew: 20, Steps: 8, Cache: "full", Speculative: sp})
			compareRun(t, toks, want, false)
			if got, wantKV := g.Cache().Entries(), int(f.doc.KV.Speculative*31); got != wantKV {
				t.Errorf("KV entries %d, reference %d", got, wantKV)
			}
			// The reference's 232 core_block_forward calls are the 8-step prefill and 14 rounds of
			// 4 drafts × 2 steps + 8 verification steps; with its quirks, so are ours.
			st := g.Stats()
			if refRounds := (want.CoreCalls - 8) / (4*2 + 8); st.DraftRounds != refRounds {
				t.Errorf("%d rounds, reference %d", st.DraftRounds, refRounds)
			}
			if !reuse && st.StepCalls != want.CoreCalls {
				t.Errorf("%d recurrences, reference %d core_block_forward calls", st.StepCalls, want.CoreCalls)
			}
			verifySteps := 8
			if reuse {
				verifySteps = 8 - 2
			}
			if want := 8 + 2*st.DraftTokens + verifySteps*st.DraftRounds; st.StepCalls != want {
				t.Errorf("%d recurrences, want %d", st.StepCalls, want)
			}
			t.Logf("reuse=%v: %d recurrence calls, %d position-steps, %d rounds, %d/%d drafts accepted",
				reuse, st.StepCalls, st.PositionSteps, st.DraftRounds, st.Accepted, st.DraftTokens)
		})
	}
}
