package generate

import (
	"testing"
)

// FuzzGenerate throws arbitrary requests at the tiny model: each must end in tokens or an error,
// never a panic, and never give more tokens than asked for.
func FuzzGenerate(f *testing.F) {
	m := loadTinyModel(f)
	f.Add([]byte{1, 2, 3, 4}, uint8(3), int8(4), "kl", 1e-3, "latest-m4", int8(0), int8(1), int8(0), int8(0), 1.0, 0.0, false, false)
	f.Add([]byte{9, 9}, uint8(5), int8(6), "", 0.0, "full", int8(0), int8(0), int8(2), int8(3), 0.8, 1.0, true, false)
	f.Add([]byte{200, 1}, uint8(2), int8(3), "cosine", 0.5, "latest-m4-compress-s4", int8(1), int8(2), int8(0), int8(0), 1.0, 0.7, false, true)
	f.Add([]byte{}, uint8(0), int8(-1), "argmax-stability", 2.5, "compress-r2", int8(5), int8(-1), int8(-1), int8(9), 2.0, -1.0, true, true)
	f.Fuzz(func(t *testing.T, prompt []byte, maxNew uint8, steps int8, crit string, thr float64, cache string,
		minSteps, every, draft, look int8, verify, temp float64, reuse, continuous bool) {
		ids := make([]int, len(prompt)/2)
		for i := range ids {
			ids[i] = (int(prompt[2*i])<<8|int(prompt[2*i+1]))%600 - 40 // some outside [0, 512)
		}
		opt := Options{MaxNew: int(maxNew % 7), Steps: int(steps % 9), Cache: cache, Continuous: continuous,
			Sampling: Sampling{Temperature: temp, TopK: int(look), TopP: verify, MinP: thr}}
		if crit != "" {
			opt.Exit = &ExitOptions{Criterion: crit, Threshold: &thr, MinSteps: int(minSteps), CheckEvery: int(every)}
		}
		if draft != 0 || look != 0 {
			opt.Speculative = &SpeculativeOptions{DraftSteps: int(draft % 9), Lookahead: int(look % 7), Verify: verify, ReuseDraft: reuse}
		}
		toks, err := Generate(m, ids, opt)
		if err == nil && (len(toks) == 0 || len(toks) > opt.MaxNew) {
			t.Fatalf("%d tokens for max %d", len(toks), opt.MaxNew)
		}
	})
}
