package judge

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseVerdict(t *testing.T) {
	good := []struct {
		answer     string
		continuous bool
		want       Verdict
	}{
		{`{"valid_score": true, "score": 1, "explanation": "ok"}`, false, Verdict{true, 1, "ok"}},
		{"Sure!\n```json\n{\"valid_score\": true, \"score\": 0, \"explanation\": \"a {brace}\"}\n```\nDone.", false, Verdict{true, 0, "a {brace}"}},
		{`prose {"valid_score": "true", "score": "1.0"} more`, false, Verdict{true, 1, ""}},
		{`{"valid_score": true, "score": 0.25, "explanation": "uses \ell_2"}`, true, Verdict{true, 0.25, `uses \ell_2`}},
		{`{"valid_score": false, "score": 7, "explanation": "none"}`, false, Verdict{false, 0, "none"}},
		{`{"note": "x"} then {"valid_score": 1, "score": 1}`, false, Verdict{true, 1, ""}},
	}
	for _, c := range good {
		got, err := ParseVerdict(c.answer, c.continuous)
		if err != nil || got != c.want {
			t.Errorf("ParseVerdict(%q) = %+v, %v; want %+v", c.answer, got, err, c.want)
		}
	}
	bad := map[string]string{
		"lorem ipsum":                                "no JSON object",
		`{"valid_score": true, "score": 0.5}`:        "neither 0 nor 1",
		`{"valid_score": true, "score": -1}`:         "not between 0 and 1",
		`{"valid_score": true}`:                      "no score",
		`{"score": 1}`:                               "no valid_score",
		`{"valid_score": "maybe", "score": 1}`:       "not a boolean",
		`{"valid_score": true, "score": "NaN"}`:      "not a finite number",
		`{"valid_score": true, "score": [1]}`:        "not a number",
		`{"valid_score": true, "score": 1e999}`:      "not a finite number",
		"```json\n{\"valid_score\": true, \"score\"": "no JSON object",
	}
	for answer, want := range bad {
		if v, err := ParseVerdict(answer, false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseVerdict(%q) = %+v, %v; want error %q", answer, v, err, want)
		}
	}
}

func TestParseRanking(t *testing.T) {
	known := []string{"README.md", "src/train.py", "src/model.py", "configs/a.yaml", "lib/util.py", "tools/util.py"}
	answer := "Here are the files:\n1. `src/train.py` - training loop\n2) ./README.md\n- /configs/a.yaml\n" +
		"│   └── model.py\n* src/train.py\n../../etc/passwd\nutil.py\n\"lib/util.py\",\nnothing"
	got := ParseRanking(answer, known, 0)
	want := []string{"src/train.py", "README.md", "configs/a.yaml", "src/model.py", "lib/util.py"}
	if !slices.Equal(got, want) {
		t.Errorf("ParseRanking = %q, want %q", got, want)
	}
	if got := ParseRanking(answer, known, 2); !slices.Equal(got, want[:2]) {
		t.Errorf("max 2: %q", got)
	}
}

func TestReduceLog(t *testing.T) {
	log := "Epoch 1/3 loss 0.9 2025-01-28T18:47:06.1Z\nEpoch 2/3 loss 0.5 2025-01-28T18:47:07.1Z\nEpoch 3/3 loss 0.2 2025-01-28T18:47:08.1Z\n" +
		"Training done\n 10%|██        | 1/10 [00:01<00:09, 1.00it/s]\n 20%|████      | 2/10 [00:02<00:08, 1.00it/s]\n" +
		"Saved to /tmp/out\nSaved to /tmp/out\nError: CUDA out of memory\n"
	want := "Epoch 1/3 loss 0.9 2025-01-28T18:47:06.1Z\n  (repeated 3 times)\nTraining done\n" +
		" 10%|██        | 1/10 [00:01<00:09, 1.00it/s]\n  (repeated 2 times)\nSaved to /tmp/out\n  (repeated 2 times)\nError: CUDA out of memory"
	if got := ReduceLog(log); got != want {
		t.Errorf("ReduceLog:\n%s\nwant:\n%s", got, want)
	}
}

func TestTokensTruncate(t *testing.T) {
	tk := NewTokens("o3-mini")
	text := strings.Repeat("naïve café — 数学 ", 50)
	for _, n := range []int{0, 1, 7, 33, 1000} {
		cut := tk.Truncate(text, n)
		if !strings.HasPrefix(text, cut) || tk.Count(cut) > n {
			t.Errorf("Truncate(%d) = %q (%d tokens)", n, cut, tk.Count(cut))
		}
	}
	if tk.Count("hello world") != 2 || NewTokens("some-local-model").Count("hello world") != 2 {
		t.Error("o200k_base counts")
	}
}

// FuzzParseVerdict checks that the verdict parser never panics and accepts only verdicts
// that grade a binary leaf 0 or 1.
func FuzzParseVerdict(f *testing.F) {
	f.Add(`{"valid_score": true, "score": 1, "explanation": "ok"}`)
	f.Add("```json\n{\"valid_score\": \"false\", \"score\": \"0\"}\n```")
	f.Add(`x {"a": {"b": "}"}} {"valid_score": true, "score": 0, "explanation": "\alpha"}`)
	f.Add(`{"valid_score": 1, "score": 1e-300}`)
	f.Fuzz(func(t *testing.T, answer string) {
		v, err := ParseVerdict(answer, false)
		if err == nil && (v.Score != 0 && v.Score != 1 || !v.Valid && v.Score != 0) {
			t.Fatalf("accepted %+v from %q", v, answer)
		}
		c, err := ParseVerdict(answer, true)
		if err == nil && (math.IsNaN(c.Score) || c.Score < 0 || c.Score > 1) {
			t.Fatalf("accepted continuous %+v from %q", c, answer)
		}
	})
}

// FuzzParseRanking checks that the ranking parser never panics and returns known files
// only, each once.
func FuzzParseRanking(f *testing.F) {
	known := []string{"README.md", "src/a.py", "src/b/c.py", "x"}
	f.Add("1. src/a.py\n2) `README.md` - docs\n├── c.py")
	f.Add("../../x\n/x\n./x\n\"x\",")
	f.Fuzz(func(t *testing.T, answer string) {
		got := ParseRanking(answer, known, 3)
		if len(got) > 3 {
			t.Fatalf("%d files", len(got))
		}
		seen := map[string]bool{}
		for _, p := range got {
			if !slices.Contains(known, p) || seen[p] {
				t.Fatalf("ranking %q from %q", got, answer)
			}
			seen[p] = true
		}
	})
}

// FuzzReduceLog checks that log reduction never panics and keeps the first line.
func FuzzReduceLog(f *testing.F) {
	f.Add("a 1\na 2\nb\n")
	f.Add("\n\n\r\n 10%|██ |\n")
	f.Fuzz(func(t *testing.T, log string) {
		got := ReduceLog(log)
		first, _, _ := strings.Cut(strings.TrimRight(log, "\n"), "\n")
		if !strings.HasPrefix(got, first) {
			t.Fatalf("ReduceLog(%q) = %q lost the first line", log, got)
		}
	})
}
